"""The accounts table: finished rows in, in-place updates out (no flicker, cursor kept)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable

from layers_tui.domain.status import SEVERITY_GLYPH, AccountRow, Severity, age, relative_time
from layers_tui.text import safe

from .palette import Palette

# Most important first: on narrow terminals the last columns scroll into view.
COLUMNS = (
    ("status", "Status"),
    ("platform", "Platform"),
    ("name", "Account"),
    ("project", "Project"),
    ("expiry", "Token expiry"),
    ("connected", "Connected"),
    ("leased", "Leased"),
    ("checked", "Checked"),
)

Cells = tuple[Text, ...]


def cells_for(row: AccountRow, now: datetime, palette: Palette, warn_seconds: float) -> Cells:
    """Every cell as literal Rich Text (API strings never become markup)."""
    status = Text(
        f"{SEVERITY_GLYPH[row.severity]} {row.status_label}",
        style=palette.for_severity(row.severity),
    )
    expiry_style = ""
    if row.token_expires_at is not None and row.status == "connected":
        remaining = (row.token_expires_at - now).total_seconds()
        if remaining <= 0 or row.severity is Severity.CRITICAL:
            expiry_style = palette.critical
        elif remaining <= warn_seconds:
            expiry_style = palette.warning
    expiry = relative_time(row.token_expires_at, now) if row.kind == "social" else "n/a (ads)"
    return (
        status,
        Text(row.platform_label),
        Text(safe(row.name, 22)),
        Text(safe(row.project_name, 18), style=palette.muted),
        Text(expiry, style=expiry_style if row.kind == "social" else palette.muted),
        Text(age(row.connected_at, now)),
        Text("leased" if row.leased else ""),
        Text(age(row.checked_at, now) if row.checked_at else "—", style=palette.muted),
    )


class AccountsTable(DataTable):
    """Keys rows by account id and columns by name; `show_rows` diffs against what is shown."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._cells: dict[str, Cells] = {}
        self._order: list[str] = []
        self.rebuilds = 0  # observable by tests and benches: a quiet refresh must not rebuild
        # Until the user moves, the cursor stays on the first (worst) row while data arrives.
        self.follow_top = True

    def on_key(self) -> None:
        self.follow_top = False

    def on_click(self) -> None:
        self.follow_top = False

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def show_rows(
        self, rows: list[AccountRow], now: datetime, palette: Palette, warn_seconds: float
    ) -> None:
        cells = {row.key: cells_for(row, now, palette, warn_seconds) for row in rows}
        order = [row.key for row in rows]
        if order == self._order:
            changed = [key for key in order if cells[key] != self._cells.get(key)]
            if changed:
                with self.app.batch_update():
                    for key in changed:
                        for (column, _), old, new in zip(
                            COLUMNS, self._cells[key], cells[key], strict=True
                        ):
                            if old != new:
                                self.update_cell(key, column, new)
            self._cells = cells
            return
        self._rebuild(order, cells)

    def _rebuild(self, order: list[str], cells: dict[str, Cells]) -> None:
        selected = self.selected_key
        scroll_y = self.scroll_y
        self.rebuilds += 1
        with self.app.batch_update():
            self.clear()
            for key in order:
                self.add_row(*cells[key], key=key)
        self._cells = cells
        self._order = order
        if self.follow_top and order:
            self.move_cursor(row=0, scroll=False)
        elif selected in cells:
            self.move_cursor(row=order.index(selected), scroll=False)
            self.scroll_to(y=scroll_y, animate=False, immediate=True)
        elif order:
            self.move_cursor(row=min(self.cursor_row, len(order) - 1), scroll=False)

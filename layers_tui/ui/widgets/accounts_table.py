"""The accounts table: a virtual table on Textual's line API.

Only the rows on screen are ever turned into cells, so filtering or refreshing 10,000
accounts costs what 40 visible rows cost. Rows are keyed by account id: a refresh that
changes nothing changes nothing on screen, and the cursor stays on the same account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from layers_tui.domain.status import SEVERITY_GLYPH, AccountRow, Severity, age, relative_time
from layers_tui.text import safe

from .palette import Palette

# (key, label, width). Most important first: narrow terminals scroll to the rest.
COLUMNS = (
    ("status", "Status", 22),
    ("platform", "Platform", 11),
    ("name", "Account", 24),
    ("project", "Project", 20),
    ("expiry", "Token expiry", 17),
    ("connected", "Connected", 14),
    ("leased", "Leased", 7),
    ("checked", "Checked", 12),
)
TOTAL_WIDTH = sum(width for _, _, width in COLUMNS)
Cells = tuple[Text, ...]


def cells_for(row: AccountRow, now: datetime, palette: Palette, warn_seconds: float) -> Cells:
    """Every cell as literal Rich Text (API strings never become markup)."""
    status = Text(
        f"{SEVERITY_GLYPH[row.severity]} {row.status_label}",
        style=palette.for_severity(row.severity),
    )
    expiry_style = palette.muted
    if row.kind == "social" and row.token_expires_at is not None:
        remaining = (row.token_expires_at - now).total_seconds()
        expiry_style = ""
        if row.status == "connected" and (remaining <= 0 or row.severity is Severity.CRITICAL):
            expiry_style = palette.critical
        elif row.status == "connected" and remaining <= warn_seconds:
            expiry_style = palette.warning
    expiry = relative_time(row.token_expires_at, now) if row.kind == "social" else "n/a (ads)"
    return (
        status,
        Text(row.platform_label),
        Text(safe(row.name, 200)),
        Text(safe(row.project_name, 200), style=palette.muted),
        Text(expiry, style=expiry_style),
        Text(age(row.connected_at, now)),
        Text("leased" if row.leased else ""),
        Text(age(row.checked_at, now) if row.checked_at else "—", style=palette.muted),
    )


def _fit(text: Text, width: int) -> Text:
    """Exactly `width` cells: cut with an ellipsis, pad with spaces, one space of gutter."""
    cell = text.copy()
    cell.truncate(width - 1, overflow="ellipsis", pad=True)
    cell.append(" ")
    return cell


@dataclass(frozen=True)
class _View:
    now: datetime
    palette: Palette
    warn_seconds: float


class AccountsTable(ScrollView, can_focus=True):
    """Rows of `AccountRow`; `show_rows` replaces them, keeping the cursor on its account."""

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Details", show=False),
    ]
    COMPONENT_CLASSES = {"accounts-table--header", "accounts-table--cursor", "accounts-table--odd"}
    DEFAULT_CSS = """
    AccountsTable { background: $surface; }
    AccountsTable > .accounts-table--header { background: $panel; text-style: bold; }
    AccountsTable > .accounts-table--cursor { background: $block-cursor-background;
        color: $block-cursor-foreground; text-style: bold; }
    AccountsTable:blur > .accounts-table--cursor { background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground; text-style: $block-cursor-blurred-text-style; }
    AccountsTable > .accounts-table--odd { background: $surface-lighten-1 40%; }
    """

    class RowHighlighted(Message):
        def __init__(self, table: AccountsTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> AccountsTable:
            return self.table

    class RowSelected(Message):
        def __init__(self, table: AccountsTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> AccountsTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[AccountRow] = []
        self._index: dict[str, int] = {}
        self._view: _View | None = None
        self._cache: dict[str, tuple[AccountRow, _View, Cells]] = {}
        self._strips: dict[str, tuple[AccountRow, tuple, tuple[Strip, Style]]] = {}
        self._header_cache: tuple[str, Strip] | None = None
        self.cursor_row = 0
        self.changes = 0  # observable by tests and benches: a quiet refresh changes nothing
        # Until the user moves, the cursor stays on the first (worst) row while data arrives.
        self.follow_top = True
        self.virtual_size = Size(TOTAL_WIDTH, 1)
        # Shown under the header when there are no rows ("Loading…", "Nothing matches…"):
        # drawn here rather than in a sibling widget, so the table never hides, keeps focus,
        # and the screen never needs a new layout.
        self.message = ""
        self._message_lines: tuple[tuple[str, int, str], list[Strip]] | None = None

    # -- data --------------------------------------------------------------------------------
    @property
    def selected_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row].key
        return None

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def show_rows(
        self, rows: list[AccountRow], now: datetime, palette: Palette, warn_seconds: float
    ) -> None:
        view = _View(now, palette, warn_seconds)
        if rows == self.rows and view == self._view:
            return
        selected = self.selected_key
        self._view = view
        self.rows = rows
        self._index = {row.key: position for position, row in enumerate(rows)}
        self.changes += 1
        self.virtual_size = Size(TOTAL_WIDTH, len(rows) + 1)
        if self.follow_top:
            target = 0
        elif selected in self._index:
            target = self._index[selected]
        else:
            target = min(self.cursor_row, max(0, len(rows) - 1))
        self._move(
            target,
            scroll=not self.follow_top,
            announce=target != self.cursor_row or selected != self.selected_key,
        )
        self.refresh()

    def show_message(self, message: str) -> None:
        """Text for an empty table (already made safe by the caller)."""
        if message != self.message:
            self.message = message
            self.refresh()

    def _cells(self, row: AccountRow) -> Cells:
        assert self._view is not None
        cached = self._cache.get(row.key)
        if cached is not None and cached[0] == row and cached[1] == self._view:
            return cached[2]
        cells = cells_for(row, self._view.now, self._view.palette, self._view.warn_seconds)
        self._cache[row.key] = (row, self._view, cells)
        if len(self._cache) > 4 * max(len(self.rows), 200):
            self._cache.clear()  # keys of rows that are gone
            self._strips.clear()
        return cells

    # -- rendering -------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            header = self._header()
            return header.crop_extend(scroll_x, scroll_x + width, self._header_style())
        index = scroll_y + y - 1
        if not self.rows and self.message:
            return self._message_line(y - 1, width)
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        if index == self.cursor_row:
            # Focused and blurred cursors are drawn differently (`:blur` in DEFAULT_CSS), so
            # a cached strip of one must never stand in for the other.
            variant = "cursor" if self.has_focus else "cursor-blurred"
        else:
            variant = "odd" if index % 2 else "even"
        cached = self._strips.get(row.key)
        if (
            cached is not None
            and cached[0] is row
            and cached[1] == (self._view, variant, self.app.theme)
        ):
            strip, base = cached[2]
        else:
            strip, base = self._row_strip(row, variant)
            self._strips[row.key] = (row, (self._view, variant, self.app.theme), (strip, base))
        # Past the last column the row's own background continues: a segment without a
        # style there would crash Textual's opacity and monochrome filters.
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _message_line(self, line: int, width: int) -> Strip:
        """The message wrapped to the width, two lines below the header, indented."""
        key = (self.message, width, self.app.theme)
        if self._message_lines is None or self._message_lines[0] != key:
            style = self.rich_style + Style(dim=True)
            lines = Text(self.message).wrap(self.app.console, max(10, width - 8))
            strips = [
                Strip([Segment("    ", style), *line.render(self.app.console)], None)
                .apply_style(style)
                .extend_cell_length(width, style)
                .crop(0, width)
                for line in lines
            ]
            self._message_lines = (key, strips)
        strips = self._message_lines[1]
        if 2 <= line < 2 + len(strips):
            return strips[line - 2]
        return Strip.blank(width, self.rich_style)

    def _header_style(self) -> Style:
        return self.rich_style + self.get_component_rich_style("accounts-table--header")

    def _header(self) -> Strip:
        theme = self.app.theme
        if self._header_cache is None or self._header_cache[0] != theme:
            text = Text.assemble(*(_fit(Text(label), w) for _, label, w in COLUMNS))
            self._header_cache = (theme, self._to_strip(text, self._header_style()))
        return self._header_cache[1]

    def _row_strip(self, row: AccountRow, variant: str) -> tuple[Strip, Style]:
        """The row drawn at its natural width, and the style that continues it."""
        cells = self._cells(row)
        text = Text.assemble(
            *(_fit(cell, w) for cell, (_, _, w) in zip(cells, COLUMNS, strict=True))
        )
        if variant.startswith("cursor"):
            style = self.get_component_rich_style("accounts-table--cursor")
            text.stylize(style)
            style = self.rich_style + style
        elif variant == "odd":
            style = self.rich_style + self.get_component_rich_style("accounts-table--odd")
        else:
            style = self.rich_style
        return self._to_strip(text, style), style

    def _to_strip(self, text: Text, base: Style) -> Strip:
        segments = [
            Segment(seg.text, base + seg.style if seg.style else base)
            for seg in text.render(self.app.console)
        ]
        return Strip(segments, TOTAL_WIDTH).extend_cell_length(TOTAL_WIDTH, base)

    # -- cursor -----------------------------------------------------------------------------------
    def move_cursor(self, *, row: int, scroll: bool = True) -> None:
        self.follow_top = False
        self._move(row, scroll=scroll, announce=True)

    def _move(self, row: int, *, scroll: bool, announce: bool) -> None:
        previous = self.cursor_row
        self.cursor_row = max(0, min(row, len(self.rows) - 1)) if self.rows else 0
        if scroll:
            # Keep the cursor row in view below the sticky header (drawn on line 0).
            self.scroll_to_region(
                Region(0, self.cursor_row, 1, 2),
                animate=False,
                spacing=None,
                force=True,
                immediate=True,
            )
        if previous != self.cursor_row:
            self.refresh()
        if announce:
            self.post_message(self.RowHighlighted(self, self.selected_key))

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self.rows) - 1)

    def action_select(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        line = event.y
        if line < 1:
            return
        index = self.scroll_offset.y + line - 1
        if index < len(self.rows):
            self.move_cursor(row=index, scroll=False)
            if event.chain >= 2:
                self.action_select()

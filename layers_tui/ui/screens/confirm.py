"""Confirmations: revoke (names the account, Cancel is the default, live keys type the
handle) and bulk reauth (the accounts it will reauth, each one can be dropped)."""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widgets import Button, Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from layers_tui.domain.status import AccountRow
from layers_tui.text import safe

from ..widgets.list_keys import HalfPageOptions, list_bindings
from .base import ReportsWorkerErrors, ShowsHelp


class RevokeDialog(ShowsHelp, ReportsWorkerErrors, ModalScreen[bool]):
    # `q` and `?` while typing the handle go to the field (it takes printable keys first).
    BINDINGS = [
        Binding("escape,q", "cancel", "Cancel"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, row: AccountRow, live: bool) -> None:
        super().__init__()
        self.row = row
        self.live = live

    def compose(self) -> ComposeResult:
        name = safe(self.row.name, 60)
        text = Text.assemble(
            ("Revoke ", "bold"),
            (f"{self.row.platform_label} {name}", "bold"),
            f" in {safe(self.row.project_name, 40)}?\n\n",
            "The token is dropped, every queued post on the account is cancelled, and the "
            "account id cannot be reconnected (a new connect makes a new id). "
            "Published posts stay on the platform.",
        )
        with Vertical(id="dialog"):
            yield Static(text, id="revoke-text")
            if self.live:
                yield Static(Text(f"LIVE key: type {name} to confirm"), classes="dialog-hint")
                yield Input(placeholder=name, id="confirm-name")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Revoke", id="revoke", variant="error", disabled=self.live)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Input.Changed, "#confirm-name")
    def typed(self, event: Input.Changed) -> None:
        expected = safe(self.row.name, None)
        self.query_one("#revoke", Button).disabled = event.value != expected

    @on(Button.Pressed, "#revoke")
    def revoke(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


KEPT_MARK, DROPPED_MARK = "[x]", "[ ]"


class ReauthChoices(HalfPageOptions, SelectionList[str]):
    """The accounts of a bulk reauth, all checked at first; space toggles one. Each row
    starts with `[x]` (gets a link) or `[ ]` (dropped): Textual's toggle button draws
    `▐X▌` for both and tells them apart by colour alone, unreadable under NO_COLOR."""

    BINDINGS = list_bindings()

    def render_line(self, y: int) -> Strip:
        line = super().render_line(y)
        selection_index = self.scroll_offset.y + y
        if not 0 <= selection_index < self.option_count:
            return line
        segments = list(line)
        if len(segments) < 3:  # not a row with Textual's three-cell button in front
            return line
        style = segments[1].style  # the button's own style (its colours and the click meta)
        value = self.get_option_at_index(selection_index).value
        mark = KEPT_MARK if value in self.selected else DROPPED_MARK
        return Strip([Segment(mark, style), *segments[3:]])


class BulkReauthDialog(ShowsHelp, ReportsWorkerErrors, ModalScreen[list[AccountRow] | None]):
    """`R`: the accounts a bulk reauth would send links for. Nothing is minted until enter;
    space drops (or takes back) the highlighted account; esc or q cancels."""

    BINDINGS = [
        # priority: the list would take enter as "toggle"; here enter means "go".
        Binding("enter", "confirm", "Reauth checked", priority=True),
        Binding("escape,q", "cancel", "Cancel"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, rows: list[AccountRow]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        choices = [
            Selection(
                Text.assemble(
                    (f"{row.platform_label:<10} ", "bold"),
                    f"{safe(row.name, 30)}  ",
                    (f"{safe(row.project_name, 30)} · {row.status_label}", "dim"),
                ),
                row.key,
                True,
            )
            for row in self.rows
        ]
        with Vertical(id="dialog"):
            yield Static(id="bulk-title", classes="dialog-title")
            yield ReauthChoices(*choices, id="bulk-choices")
            yield Static(
                Text(
                    f"space drop/keep ({KEPT_MARK} gets a link, {DROPPED_MARK} dropped) · "
                    "enter send reconnect links · esc cancel"
                ),
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self._count_changed()
        self.query_one(ReauthChoices).focus()

    @on(SelectionList.SelectedChanged, "#bulk-choices")
    def _count_changed(self) -> None:
        chosen = len(self.chosen())
        title = Text.assemble(
            ("Bulk reauth: ", "bold"),
            f"{chosen} of {len(self.rows)} account{'' if len(self.rows) == 1 else 's'} "
            "will get a reconnect link, one after another. Nothing is sent until enter.",
        )
        self.query_one("#bulk-title", Static).update(title)

    def chosen(self) -> list[AccountRow]:
        keys = set(self.query_one(ReauthChoices).selected)
        return [row for row in self.rows if row.key in keys]

    def action_confirm(self) -> None:
        chosen = self.chosen()
        if not chosen:
            self.app.notify("No account is checked: space checks one, esc cancels.", markup=False)
            return
        self.dismiss(chosen)

    def action_cancel(self) -> None:
        self.dismiss(None)

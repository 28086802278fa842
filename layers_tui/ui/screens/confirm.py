"""Revoke confirmation: names the account, Cancel is the default, live keys type the handle."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from layers_tui.domain.status import AccountRow
from layers_tui.text import safe

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

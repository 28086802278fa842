"""`?`: every binding of the screen it was opened from, with what it does."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ..commands import key_label, screen_bindings
from .base import ReportsWorkerErrors

EXTRA = [
    ("tab", "Move between the project list and the accounts table"),
    ("ctrl+p", "Command palette: every action by name, themes"),
    (
        "filter",
        "Terms AND together: text anywhere, field:value (status, platform, project, "
        "kind, name, id), !term to exclude, /regex/",
    ),
    (
        "Checked",
        "Ads: when Layers last validated the token (tokenLastValidatedAt). Social: when "
        "layers-tui last read the status (the API reports no check time).",
    ),
]


class HelpScreen(ReportsWorkerErrors, ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, origin: Screen) -> None:
        super().__init__()
        self.origin = origin

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for binding in screen_bindings(self.origin):
            table.add_row(key_label(binding.key), binding.description)
        for key, text in EXTRA:
            table.add_row(key, text)
        body = VerticalScroll(id="help-body")
        body.border_title = "Keys (esc to close)"
        with body:
            yield Static(table)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)

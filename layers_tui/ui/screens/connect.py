"""Pick the platform to connect for a project."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from layers_tui.domain.status import AD_PLATFORMS, PLATFORM_LABELS, SOCIAL_PLATFORMS
from layers_tui.text import safe

from ..widgets.list_keys import ListOptions
from .base import ReportsWorkerErrors, ShowsHelp


class ConnectDialog(ShowsHelp, ReportsWorkerErrors, ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape,q", "cancel", "Cancel"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, project_name: str) -> None:
        super().__init__()
        self.project_name = project_name

    def compose(self) -> ComposeResult:
        options = [Option(Text(f"{PLATFORM_LABELS[p]}  (social)"), id=p) for p in SOCIAL_PLATFORMS]
        options += [Option(Text(f"{PLATFORM_LABELS[p]}  (ad account)"), id=p) for p in AD_PLATFORMS]
        with Vertical(id="dialog"):
            yield Static(
                Text(f"Connect an account to {safe(self.project_name, 40)}"), classes="dialog-title"
            )
            yield ListOptions(*options, id="platforms")
            yield Static("enter connect · esc cancel · ? help", classes="dialog-hint")

    @on(OptionList.OptionSelected, "#platforms")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)

"""`?`: every key of the screen it was opened from, from the same source as the key bar and
the palette (`keys.key_hints`): what `check_action` refuses is absent, what it disables is
listed dimmed with the reason: "(read-only)" for a write key in --read-only, else "(not now)"."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from layers_tui.domain.filtering import FIELDS as FILTER_FIELDS

from ..keys import Group, KeyHint, disabled_reason, key_hints
from ..widgets.list_keys import ScrollBody
from .base import ReportsWorkerErrors

HEADINGS = {
    Group.SCREEN: "This screen",
    Group.WIDGET: "In the focused panel",
    Group.GENERAL: "Everywhere",
}

# What a key list cannot say, per screen (by class name: help must not import the screens).
NOTES: dict[str, list[tuple[str, str]]] = {
    "DashboardScreen": [
        ("enter", "In the accounts table: the highlighted account's details."),
        (
            "filter",
            "Terms AND together: text anywhere, field:value "
            f"({', '.join(FILTER_FIELDS)}; platform and kind match exactly, tiktok* is a "
            'prefix, "quoted values" keep spaces), !term to exclude, /regex/',
        ),
        (
            "Checked",
            "Ads: when Layers last validated the token (tokenLastValidatedAt). Social: when "
            "layers-tui last read the status (the API reports no check time).",
        ),
    ],
    "FlowScreen": [
        (
            "Link",
            "Works once, for 10 minutes. Leaving this screen keeps it polling (p lists "
            "pending flows); times are in the project's time zone, named.",
        ),
    ],
}


def help_table(
    hints: list[KeyHint], notes: list[tuple[str, str]], reasons: dict[str, str] | None = None
) -> Table:
    """The keys grouped (this screen, the focused panel, everywhere), then the notes; each
    heading on a row of its own so the key column stays as narrow as the keys. A dimmed key
    says why in brackets: `reasons[action]` (`keys.disabled_reason`), "not now" by default."""
    reasons = reasons or {}
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    sections: list[tuple[str, list[tuple[Text, Text]]]] = []
    for group in Group:
        rows = []
        for hint in hints:
            if hint.group is not group:
                continue
            if hint.enabled:
                rows.append((Text(hint.keys_display), Text(hint.description)))
            else:
                rows.append(
                    (
                        Text(hint.keys_display, style="dim"),
                        Text(
                            f"{hint.description} ({reasons.get(hint.action, 'not now')})",
                            style="dim",
                        ),
                    )
                )
        if rows:
            sections.append((HEADINGS[group], rows))
    if notes:
        sections.append(("Notes", [(Text(key), Text(text)) for key, text in notes]))
    for index, (heading, rows) in enumerate(sections):
        if index:
            table.add_row("", "")
        table.add_row("", Text(heading, style="bold underline"))
        for key, text in rows:
            table.add_row(key, text)
    return table


class HelpScreen(ReportsWorkerErrors, ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, origin: Screen) -> None:
        super().__init__()
        self.origin = origin
        self.hints = key_hints(origin)
        self.reasons = {
            hint.action: disabled_reason(origin, hint.action)
            for hint in self.hints
            if not hint.enabled
        }

    def compose(self) -> ComposeResult:
        notes = NOTES.get(type(self.origin).__name__, [])
        body = ScrollBody(id="help-body")
        body.border_title = "Keys (esc to close)"
        with body:
            yield Static(help_table(self.hints, notes, self.reasons), id="help-keys")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)

"""Command-palette entries from the active screen's key hints (`keys.palette_hints`), so the
key bar, Help and the palette never disagree: the palette offers what applies on this screen
in this mode, and nothing `check_action` refuses or disables (no demo keys outside --demo).
Screens reachable from anywhere (the journal) are offered on every screen but their own."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import SystemCommand
from textual.screen import Screen

from .keys import palette_hints


def commands_for(screen: Screen) -> Iterable[SystemCommand]:
    app = screen.app
    for hint in palette_hints(screen):
        namespace = hint.namespace or screen

        async def run(action: str = hint.action, namespace: object = namespace) -> None:
            await app.run_action(action, namespace)  # type: ignore[arg-type]

        # The palette shows the help under the title: say the key, don't repeat the title.
        yield SystemCommand(hint.description, f"key {hint.keys_display}", run)
    yield from _everywhere(screen)


def _everywhere(screen: Screen) -> Iterable[SystemCommand]:
    from .screens.journal import JournalScreen

    app = screen.app
    if hasattr(app, "action_journal") and not isinstance(screen, JournalScreen):

        async def journal() -> None:
            await app.run_action("journal")

        yield SystemCommand(
            "Journal",
            "operator actions: reauth links, connects, revokes (J on the dashboard)",
            journal,
        )

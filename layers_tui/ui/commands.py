"""Command-palette entries built from the active screen's bindings, so footer, help and
palette never disagree."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen


def screen_bindings(screen: Screen) -> list[Binding]:
    bindings = []
    for binding in getattr(screen, "BINDINGS", []):
        if isinstance(binding, Binding) and binding.description:
            bindings.append(binding)
    return bindings


def key_label(key: str) -> str:
    return {
        "slash": "/",
        "exclamation_mark": "!",
        "question_mark": "?",
        "escape": "esc",
        "enter": "enter",
    }.get(key, key)


def commands_for(screen: Screen) -> Iterable[SystemCommand]:
    for binding in screen_bindings(screen):
        if binding.action.startswith("app."):
            continue
        action = binding.action

        async def run(action: str = action) -> None:
            await screen.run_action(action)

        # The palette shows the help under the title: say the key, don't repeat the title.
        yield SystemCommand(binding.description, f"key {key_label(binding.key)}", run)

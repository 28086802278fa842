"""One source of key hints: the screen's active bindings, as Textual's `check_action` leaves them.

The key bar, the Help screen, the command palette and the flow screen's own key list all
read `key_hints(screen)`, so they cannot disagree. Textual's `Screen.active_bindings` already
walks the focused widget, the screen and the app, drops bindings whose `check_action`
returns False and marks those that return None as disabled (shown dimmed, do nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from rich.cells import cell_len
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen


class Group(StrEnum):
    """Where a binding comes from, which is also how Help lists it."""

    SCREEN = "screen"  # the screen's own keys: what this screen does
    WIDGET = "widget"  # the focused widget's keys (moving in a table, scrolling)
    GENERAL = "general"  # Textual's keys for every screen and the app's (tab, ^p, ^q)


# Bindings every Textual screen has; they belong with the app's, not with the screen's keys.
_STOCK_SCREEN_ACTIONS = frozenset(binding.action for binding in Screen.BINDINGS)  # type: ignore[union-attr]


@dataclass(frozen=True)
class KeyHint:
    """One action and the keys bound to it (a binding such as "escape,q" is one hint)."""

    key: str  # the first key: what a click on the key bar presses
    display: str  # how the key bar shows that key ("?", "esc", "^x")
    description: str
    action: str
    enabled: bool  # False: `check_action` said None, shown dimmed and does nothing now
    shown: bool  # the binding's `show`: on the key bar, not only in Help and the palette
    group: Group = Group.SCREEN
    displays: tuple[str, ...] = ()  # every key bound to the action, for Help
    namespace: DOMNode | None = field(default=None, compare=False, repr=False)

    @property
    def keys_display(self) -> str:
        return " ".join(self.displays or (self.display,))


def _group(screen: Screen, node: DOMNode, binding: Binding) -> Group:
    if node is screen:
        if binding.action in _STOCK_SCREEN_ACTIONS:
            return Group.GENERAL
        return Group.SCREEN
    if node is screen.app:
        return Group.GENERAL
    return Group.WIDGET


def key_hints(screen: Screen) -> list[KeyHint]:
    """Every active binding of `screen` that has a description, one hint per action, in the
    order Textual resolves keys (focused widget, screen, app) and, within one node, in the
    order of its `BINDINGS`. An action `check_action` refuses (False) is not here at all."""
    app = screen.app
    merged: dict[tuple[int, str], KeyHint] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description:
            continue
        display = app.get_key_display(binding)
        slot = (id(active.node), binding.action)
        found = merged.get(slot)
        if found is not None:
            if display not in found.displays:
                merged[slot] = KeyHint(
                    found.key,
                    found.display,
                    found.description,
                    found.action,
                    found.enabled,
                    found.shown or binding.show,
                    found.group,
                    (*found.displays, display),
                    found.namespace,
                )
            continue
        merged[slot] = KeyHint(
            key,
            display,
            binding.description,
            binding.action,
            active.enabled,
            binding.show,
            _group(screen, active.node, binding),
            (display,),
            active.node,
        )
    return list(merged.values())


def shown_hints(screen: Screen) -> list[KeyHint]:
    """What the key bar shows: bindings with `show`, excluding the palette's own key (the
    bar draws that one on the right)."""
    palette = screen.app.COMMAND_PALETTE_BINDING
    return [hint for hint in key_hints(screen) if hint.shown and hint.key != palette]


def palette_hints(screen: Screen) -> list[KeyHint]:
    """What the command palette offers for `screen`: the screen's own actions that apply now
    (enabled), not the app's (`app.quit` is already the palette's Quit)."""
    return [
        hint
        for hint in key_hints(screen)
        if hint.group is Group.SCREEN and hint.enabled and not hint.action.startswith("app.")
    ]


def hint_line(hints: Iterable[KeyHint], width: int, lead: str = "", sep: str = " · ") -> str:
    """`lead` and then whole "key description" pairs while they fit in `width` cells; when
    some do not, the line ends with `…` (the rest are in Help and the palette)."""
    line = lead
    parts = [f"{hint.display} {hint.description}" for hint in hints]
    for index, part in enumerate(parts):
        piece = (sep if line else "") + part
        last = index == len(parts) - 1
        room = width - (0 if last else cell_len(sep) + 1)
        if cell_len(line) + cell_len(piece) > room:
            return f"{line}{sep if line else ''}…"
        line += piece
    return line


# Actions that change something at Layers: off (dimmed, do nothing) in --read-only.
WRITE_ACTIONS = frozenset({"connect", "reauth", "bulk_reauth", "revoke", "new_link"})


def read_only_check(screen: Screen, action: str) -> bool | None:
    """For a screen's `check_action`: None (shown dimmed, does nothing) for an action that
    changes something when the app runs read-only, else True."""
    settings = getattr(screen.app, "settings", None)
    if action in WRITE_ACTIONS and getattr(settings, "read_only", False):
        return None
    return True


def disabled_reason(screen: Screen, action: str) -> str:
    """Why a dimmed key does nothing, in Help's words: "read-only" for a key that would change
    something at Layers while the app runs read-only (that is why `read_only_check` dimmed
    it, and it stays so all session), else "not now" (it applies in another state)."""
    if read_only_check(screen, action) is None:
        return "read-only"
    return "not now"

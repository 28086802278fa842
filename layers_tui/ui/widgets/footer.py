"""The key bar: a screen's key hints on one line, drawn as text by a single widget."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

from ..keys import Group, KeyHint, key_hints, shown_hints

__all__ = ["KeyBar", "KeyHint"]

# Kept on the bar however narrow: where every other key is explained, and the way back.
PINNED = frozenset({"help", "back", "app.pop_screen"})
CUE = " … "


def fitting(hints: Sequence[KeyHint], widths: Sequence[int], room: int) -> set[int]:
    """Which hints (by index) a bar of `room` cells shows when not all fit: the pinned ones,
    then the keys that work now, then dimmed ones, each kind in binding order and stopping at
    the first that does not fit (so what is left out is a tail of its kind). A dimmed key is
    never shown in place of one that works; the bar draws the ones that work first."""
    kept = {index for index, hint in enumerate(hints) if hint.action in PINNED}
    room -= sum(widths[index] for index in kept)
    for enabled in (True, False):
        for index, hint in enumerate(hints):
            if index in kept or hint.enabled is not enabled:
                continue
            if widths[index] > room:
                return kept
            kept.add(index)
            room -= widths[index]
    return kept


class KeyBar(Widget, can_focus=False):
    """Looks and works like Textual's Footer: the theme's footer colours, a click presses
    the key, keys that do nothing right now are dimmed, the palette key sits on the right.
    The keys are `keys.shown_hints(screen)`, the same source as Help and the palette; when
    they do not all fit, `? Help` and the way back stay, keys that work now come before
    dimmed ones (`fitting`), and the line ends with a `…` cue; when all fit, binding order.
    The Footer mounts one widget per key and rebuilds them all after every focus change and
    screen switch (tens of milliseconds each, several times during start-up); this draws
    one line of text and repaints only when the keys it shows change."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--hover"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keybar--hover {
            background: $block-hover-background;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[KeyHint, ...] | None = None
        self._spans: list[tuple[int, int, KeyHint]] = []
        self._hover: KeyHint | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, screen: Screen) -> None:
        if self._hints() != self._shown:
            self.refresh()

    def _hints(self) -> tuple[KeyHint, ...]:
        """What the bar shows: each action once, in binding order."""
        return tuple(shown_hints(self.screen))

    def _palette_hint(self) -> KeyHint | None:
        if not self.app.ENABLE_COMMAND_PALETTE:
            return None
        key = self.app.COMMAND_PALETTE_BINDING
        for hint in key_hints(self.screen):
            if hint.key == key:
                return KeyHint(
                    hint.key,
                    hint.display,
                    "palette",
                    hint.action,
                    hint.enabled,
                    True,
                    Group.GENERAL,
                )
        return None

    def render(self) -> Text:
        hints = self._hints()
        self._shown = hints
        width = self.size.width
        palette = self._palette_hint()
        right = self._hint_text(palette) if palette else Text()
        if palette:
            right = Text("▏", style=Style(dim=True)) + right
        line = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []
        texts = [self._hint_text(hint) for hint in hints]
        room = width - right.cell_len
        cut = sum(text.cell_len for text in texts) > room
        kept = set(range(len(hints)))
        if cut:  # not all fit: keep room for the cue
            kept = fitting(hints, [text.cell_len for text in texts], room - len(CUE))
        # Whole hints only (the rest are in `?` help and the palette); short of room, the
        # keys that work come first, then the dimmed ones, each in binding order.
        order = sorted(kept, key=lambda index: (cut and not hints[index].enabled, index))
        for hint, text in ((hints[index], texts[index]) for index in order):
            start = line.cell_len
            line.append_text(text)
            self._spans.append((start, line.cell_len, hint))
        if cut:
            start = line.cell_len
            line.append(CUE, self.get_component_rich_style("keybar--description", partial=True))
            # A click on the cue opens Help (or the palette): where the missing keys are.
            target = next((h for h in hints if h.action == "help" and h.enabled), palette)
            if target is not None:
                self._spans.append((start, line.cell_len, target))
        if palette:
            gap = width - line.cell_len - right.cell_len
            line.append(" " * max(0, gap))
            self._spans.append((line.cell_len, line.cell_len + right.cell_len, palette))
            line.append_text(right)
        return line

    def _hint_text(self, hint: KeyHint) -> Text:
        key_style = self.get_component_rich_style("keybar--key", partial=True)
        description_style = self.get_component_rich_style("keybar--description", partial=True)
        extra = Style()
        if not hint.enabled:
            extra = Style(dim=True)
        if hint == self._hover:
            extra += self.get_component_rich_style("keybar--hover", partial=True)
        text = Text.assemble((f" {hint.display} ", key_style + extra))
        if hint.description:
            text.append(f"{hint.description} ", description_style + extra)
        return text

    def _hint_at(self, x: int) -> KeyHint | None:
        for start, end, hint in self._spans:
            if start <= x < end:
                return hint
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        hover = self._hint_at(event.x)
        if hover != self._hover:
            self._hover = hover
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        hint = self._hint_at(event.x)
        if hint is None:
            return
        if hint.enabled:
            self.app.simulate_key(hint.key)
        else:
            self.app.bell()

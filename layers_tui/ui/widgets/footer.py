"""A footer that rebuilds only when the keys it shows change."""

from __future__ import annotations

from collections.abc import Hashable

from textual.widgets import Footer


class QuietFooter(Footer):
    """Textual's footer rebuilds all its key widgets after every focus change and screen
    switch (often twice in a row), which costs tens of milliseconds each time; the keys a
    screen shows rarely change, so an unchanged set of keys skips the rebuild."""

    _shown: Hashable | None = None

    def _keys_shown(self) -> Hashable | None:
        if not self.is_attached:
            return None
        keys = tuple(
            (binding.key, binding.description, binding.action, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        )
        return keys, self.compact, self.show_command_palette

    async def recompose(self) -> None:
        shown = self._keys_shown()
        if shown is not None and shown == self._shown:
            return
        self._shown = shown
        await super().recompose()

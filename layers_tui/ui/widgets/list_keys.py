"""The keys every list and table answers to, beside the arrows: vi's (`j k g G`) and a half
page (`ctrl+d ctrl+u`), as lazygit and k9s users expect."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.widgets import DataTable, OptionList


def list_bindings(first: str = "first", last: str = "last") -> list[Binding]:
    """`first`/`last`: the widget's own actions for the first and last row (DataTable calls
    them `scroll_top`/`scroll_bottom`). The widget provides `action_half_page_down/up`."""
    return [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", first, "First", show=False),
        Binding("G", last, "Last", show=False),
        Binding("ctrl+d", "half_page_down", "Half page down", show=False),
        Binding("ctrl+u", "half_page_up", "Half page up", show=False),
    ]


def half_page(height: int) -> int:
    """Rows a half-page move goes: half of what is on screen, at least one."""
    return max(1, height // 2)


class ListTable(DataTable):
    """A row-cursor table with the keys every list has (j k g G ctrl+d ctrl+u)."""

    BINDINGS = list_bindings(first="scroll_top", last="scroll_bottom")

    def action_half_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + half_page(self.scrollable_content_region.height))

    def action_half_page_up(self) -> None:
        self.move_cursor(
            row=max(0, self.cursor_row - half_page(self.scrollable_content_region.height))
        )


class HalfPageOptions:
    """Mixed into an `OptionList` (or a `SelectionList`): the half-page moves `list_bindings`
    asks for, by the highlight, stopping at either end."""

    option_count: int
    highlighted: int | None
    scrollable_content_region: Region

    def action_half_page_down(self) -> None:
        self._move_highlight(half_page(self.scrollable_content_region.height))

    def action_half_page_up(self) -> None:
        self._move_highlight(-half_page(self.scrollable_content_region.height))

    def _move_highlight(self, rows: int) -> None:
        if self.option_count:
            current = self.highlighted or 0
            self.highlighted = max(0, min(self.option_count - 1, current + rows))


class ListOptions(HalfPageOptions, OptionList):
    """An option list with the keys every list has (j k g G ctrl+d ctrl+u)."""

    BINDINGS = list_bindings()


class ScrollBody(VerticalScroll):
    """A scrolling page (Help, the details) that answers to the same keys as the lists."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "First", show=False),
        Binding("G", "scroll_end", "Last", show=False),
        Binding("ctrl+d", "page_down", "Page down", show=False),
        Binding("ctrl+u", "page_up", "Page up", show=False),
    ]

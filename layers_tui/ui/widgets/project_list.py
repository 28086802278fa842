"""The project list: "All projects" plus one line per project, worst first."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual import events
from textual.message import Message
from textual.visual import VisualType
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from layers_tui.domain.status import SEVERITY_GLYPH, Summary
from layers_tui.text import safe

from .list_keys import HalfPageOptions, list_bindings
from .palette import Palette

ALL = "__all__"


NAME_MIN = 6  # a name is never cut shorter than this to make room for its counts
# A name's last word kept whole when a name must be cut: numbered series ("Customer 1991",
# "Store 12") and short codes ("Acme EU") differ there, not at their shared start.
TAIL_WORD_MAX = 8
HEAD_MIN = 3  # cells of the name's start kept before the ellipsis of a middle cut


def project_prompt(
    name: str,
    summary: Summary | None,
    failed: bool,
    loading: bool,
    palette: Palette,
    age: str = "",
    width: int | None = None,
) -> Text:
    """One project's line; `age` (e.g. "3 h") marks data older than usual. With `width`,
    the name wins: the parts after it give way first (the age; then "(empty)" becomes
    "empty" and goes, as does "failed", whose glyph still says it; then the spaces between
    the counts), and only then is the name cut, keeping its distinguishing end
    (`cut_name`). The counts always show."""
    glyph, counts, spaced, note = _parts(summary, failed, loading, palette)
    short_note = Text(" empty", style=palette.muted) if note.plain == " (empty)" else Text()
    shown = safe(name, 60)
    aged = Text(f" ·{age}", style=palette.muted) if age else Text()
    layouts = [
        Text.assemble(spaced, note, aged),
        Text.assemble(spaced, note),
        Text.assemble(spaced, short_note),
        spaced,
        counts,
    ]
    if width is None:  # no width known yet: the fullest line, the name cut at 18
        return Text.assemble(glyph, cut_name(shown, 18), layouts[0])
    room = width - glyph.cell_len
    tail = next((t for t in layouts if cell_len(shown) + t.cell_len <= room), layouts[-1])
    budget = max(NAME_MIN, room - tail.cell_len)
    return Text.assemble(glyph, cut_name(shown, budget), tail)


def cut_name(name: str, budget: int) -> str:
    """`name` in at most `budget` cells. A name whose last word has a digit or is a short
    upper-case code keeps that word and loses its middle ("Cust…1991", "Acme Gl…EU"): in a
    list of "Customer 0001" to "Customer 2000" the end is what tells them apart. Any other
    name loses its end ("Northwind F…"), read from its start like any text."""
    if cell_len(name) <= budget:
        return name
    head, _, last = name.rpartition(" ")
    telling = any(c.isdigit() for c in last) or (last.isupper() and len(last) <= 5)
    if head and telling and cell_len(last) <= TAIL_WORD_MAX:
        keep = budget - 1 - cell_len(last)
        if keep >= HEAD_MIN:
            start = set_cell_size(head, keep).rstrip()
            return f"{start}…{last}"
    return set_cell_size(name, budget - 1).rstrip() + "…"


def _parts(
    summary: Summary | None, failed: bool, loading: bool, palette: Palette
) -> tuple[Text, Text, Text, Text]:
    """Before the name: its worst glyph; after it: the counts packed ("✖2▲2"), the counts
    spaced (" ✖2 ▲2"), and a note the glyph already hints at ("failed", "(empty)")."""
    if failed:
        return (
            Text("⚠ ", style=palette.critical),
            Text(),
            Text(),
            Text(" failed", style=palette.critical),
        )
    if summary is None or loading and summary.total == 0:
        return Text("… ", style=palette.muted), Text(), Text(), Text()
    worst = summary.worst
    packed, spaced, note = Text(" "), Text(), Text()
    if summary.critical:
        packed.append(f"✖{summary.critical}", style=palette.critical)
        spaced.append(f" ✖{summary.critical}", style=palette.critical)
    if summary.warning:
        packed.append(f"▲{summary.warning}", style=palette.warning)
        spaced.append(f" ▲{summary.warning}", style=palette.warning)
    if not summary.total:
        note.append(" (empty)", style=palette.muted)
    if not spaced:
        packed = Text()
    glyph = Text(f"{SEVERITY_GLYPH[worst]} ", style=palette.for_severity(worst))
    return glyph, packed, spaced, note


class ProjectList(HalfPageOptions, OptionList):
    """Options keyed by project id; prompts replaced in place when only counts change."""

    BINDINGS = list_bindings()

    class Resized(Message):
        """The list's own width changed (a terminal width breakpoint moves it without the
        screen's size changing): its lines are cut to fit again."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._prompts: dict[str, Text] = {}
        self._ids: list[str] = []

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())

    @property
    def selected_project(self) -> str | None:
        option = self.highlighted_option
        if option is None or option.id == ALL:
            return None
        return option.id

    def show_projects(self, entries: list[tuple[str, Text]], all_prompt: Text) -> None:
        wanted = [(ALL, all_prompt), *entries]
        ids = [key for key, _ in wanted]
        if ids == self._ids:
            shown = self._prompts
            for index, (key, prompt) in enumerate(wanted):
                old = shown.get(key)
                if old is not prompt and old != prompt:  # the same object: unchanged
                    self.replace_option_prompt_at_index(index, prompt)
        else:
            current = self.highlighted_option.id if self.highlighted_option else ALL
            self.set_options([Option(prompt, id=key) for key, prompt in wanted])
            self.highlighted = ids.index(current) if current in ids else 0
        self._ids = ids
        self._prompts = dict(wanted)

    def _replace_option_prompt(self, index: int, prompt: VisualType) -> None:
        """Textual's own forgets every option's line layout and drawing on any prompt change:
        at 2,000 projects one changed count cost a re-measure of every option and a redraw
        of every visible one (~20 ms of a recompute's frame). A prompt that keeps its height
        (a project's line always does, cut to the width) drops only its own drawings; any
        other change takes Textual's way. (Textual 8.2.8's private layout and drawing
        caches: a test holds the result equal to a full rebuild.)"""
        option = self.get_option_at_index(index)
        layout = self._line_cache
        old_height = layout.heights.get(index)
        option._set_prompt(prompt)
        if old_height is not None and self.scrollable_content_region:
            width = self.scrollable_content_region.width - self._get_left_gutter_width()
            padding = self.get_component_styles("option-list--option").padding
            visual = self._get_visual(option)
            height = visual.get_height(self.styles, width - padding.width) + option._divider
            if height == old_height:
                drawings = self._option_render_cache
                # An LRUCache: `keys()` is how it lists them (it has no `__iter__`).
                for key in [key for key in drawings.keys() if key[0] is option]:  # noqa: SIM118
                    drawings.discard(key)
                line = layout.index_to_line.get(index)
                if line is None:
                    self.refresh()
                else:
                    self.refresh_lines(line, height)  # only its lines are drawn again
                return
        self._clear_caches()

    def prompt_width(self, lines: int) -> int:
        """Cells a prompt has on a line once `lines` one-line options are shown (the list's
        width less its scrollbar): when that many lines will bring the vertical scrollbar,
        its cells are taken now, so the lines are not all cut again once it shows (0.2 s at
        2,000 projects)."""
        region = self.scrollable_content_region
        width = region.width
        if (
            not self.show_vertical_scrollbar
            and self.styles.overflow_y == "auto"
            and 0 < region.height < lines
        ):
            width -= self.styles.scrollbar_size_vertical
        return max(NAME_MIN + 4, width - 1)

    @staticmethod
    def severity_order(summary: Summary | None, failed: bool) -> int:
        if failed:
            return -10
        return -int(summary.worst) if summary else 0

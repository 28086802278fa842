"""The header line: who, which key, how fresh, what is wrong. Always visible."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rich.text import Text
from textual.color import Color
from textual.widgets import Static

from layers_tui.api import ApiError, format_error
from layers_tui.domain.status import Summary, span
from layers_tui.session.inventory import Progress
from layers_tui.text import safe

from .palette import Palette, palette_for, readable


@dataclass(frozen=True)
class StatusState:
    organization: str | None
    profile: str | None
    key_env: str | None
    read_only: bool
    demo: bool
    summary: Summary
    projects: int
    updated_seconds: float | None
    refreshing: bool
    error: ApiError | None
    pending: int
    plan_reason: str
    filter_text: str
    problems_only: bool
    sort: str
    sort_reverse: bool
    failed_projects: int = 0  # projects whose last refresh failed (their old data is shown)
    progress: Progress | None = None  # the refresh pass under way
    loaded: bool = True  # False until any project's data is known
    refreshed_by: str | None = None  # another process refreshes (holds the lease)
    error_hint: str = ""  # what to do about `error`, when the error alone doesn't say
    project: str | None = None  # the one project the table shows (None: every project)
    # How old the data of the projects the table shows is, in seconds: (oldest, newest).
    # None: not known, and the line says when the last full refresh ended.
    data_ages: tuple[float, float] | None = None


def _ago(seconds: float) -> str:
    return f"{span(max(0.0, seconds))} ago"


def data_age_text(oldest: float, newest: float) -> str:
    """How old the data on screen is, by its oldest part: "data < 1 min old", "data 12 min
    old", "data up to 12 min old" (the projects' ages differ). During a long refresh pass
    the projects already done are seconds old while the rest are minutes old: the oldest
    is what the rows on screen may be."""
    if oldest < 60:
        return "data < 1 min old"
    if span(oldest) == span(newest):
        return f"data {span(oldest)} old"
    return f"data up to {span(oldest)} old"


def _progress_text(progress: Progress | None) -> str:
    """ "refreshing 120 of 2000, ~30 min left": the pass in the fewest words (why it is
    slow is `short_reason`'s)."""
    if progress is None or not progress.total:
        return "refreshing…"
    return progress.describe("refreshing", short=True)


# The session's reasons for a slow refresh, in the status line's fewer words. Any other
# reason is shown as it is.
_SHORT_REASONS = (
    (re.compile(r"limited by the request budget \((\d+) req/min\)"), "budget-limited {0}/min"),
    (
        re.compile(r"refresh every (.+?) to stay within (\d+) req/min"),
        "refresh every {0} (budget {1}/min)",
    ),
    (re.compile(r"pending flows use the whole request budget"), "flows use the whole budget"),
)


def short_reason(reason: str) -> str:
    """ "budget-limited 120/min" for "limited by the request budget (120 req/min)", and so
    on: the status line has 120 columns for what the table shows, how fresh it is, and
    why a pass is slow."""
    for pattern, short in _SHORT_REASONS:
        found = pattern.fullmatch(reason)
        if found:
            return short.format(*found.groups())
    return reason


def fit_parts(parts: list[tuple[Text, ...]], width: int, keep: int = 1) -> Text:
    """`parts` joined by " · ", each in the first of its forms (longest first) that fits in
    `width` cells (0: not laid out yet, the first forms), and a part none of whose forms
    fits left out whole rather than cut mid-word. The first `keep` parts always show (in
    their shortest form when none fits; the terminal cuts the rest), and a later, shorter
    part may still fit after one left out."""
    line = Text()
    for index, forms in enumerate(parts):
        gap = 3 if line else 0
        room = width - line.cell_len - gap
        form = next((f for f in forms if not width or f.cell_len <= room), None)
        if form is None:
            if index >= keep:
                continue
            form = forms[-1]
        if gap:
            line.append(" · ")
        line.append_text(form)
    return line


class StatusLine(Static):
    # `$text` is the theme's text colour picked for contrast with the background: the
    # theme's foreground read at 3.5:1 on some themes' $panel.
    DEFAULT_CSS = """
    StatusLine { height: 2; padding: 0 1; background: $panel; color: $text; }
    """

    _last: Text | None = None
    _palette: tuple[tuple[Palette, Color], Palette] | None = None

    def line_palette(self) -> Palette:
        """The theme's status colours, each moved just enough to read at WCAG AA on this
        line's own background (the palette is made for $background and $surface; $panel
        is darker on light themes and lighter on dark ones)."""
        palette = palette_for(self.app)
        background = self.background_colors[1]
        if self._palette is not None and self._palette[0] == (palette, background):
            return self._palette[1]
        no_color = self.app.no_color  # Textual greys every colour: measure the greys

        def on_line(colour: str) -> str:
            parsed = Color.parse(colour)
            if no_color:
                return readable(parsed.monochrome, [background.monochrome]).hex
            return readable(parsed, [background]).hex

        line = Palette(
            critical=on_line(palette.critical),
            warning=on_line(palette.warning),
            ok=on_line(palette.ok),
            muted=on_line(palette.muted),
            accent=on_line(palette.accent),
        )
        self._palette = ((palette, background), line)
        return line

    @staticmethod
    def _progress_forms(progress: Progress | None, note: str, palette: Palette) -> tuple[Text, ...]:
        """The pass in fewer words each: with why it is slow, without, without its time left
        (why it is slow never shows without the pass it slows)."""
        full = Text(_progress_text(progress), style=palette.muted)
        forms = [full]
        if note:
            forms.insert(0, Text.assemble(full, " · ", (short_reason(note), palette.warning)))
        if progress is not None and progress.total and progress.eta_seconds is not None:
            forms.append(Text(_progress_text(replace(progress, eta_seconds=None)), palette.muted))
        return tuple(forms)

    def show(self, state: StatusState) -> None:
        palette = self.line_palette()
        line = Text()
        # NO_COLOR greys the badges' colours (black on cyan: 3.9:1 on light themes): there
        # they are the line's own colours reversed, told apart by their words.
        no_color = self.app.no_color
        badge = {
            "live": (" LIVE ", "bold reverse" if no_color else "bold white on red"),
            "test": (" TEST ", "bold reverse" if no_color else "bold black on yellow"),
        }.get(state.key_env or "")
        if badge:
            line.append(*badge)
            line.append(" ")
        if state.demo:
            line.append(" DEMO ", style="bold reverse" if no_color else "bold black on cyan")
            line.append(" ")
        line.append(safe(state.organization or "…", 40), style="bold")
        if state.profile:
            line.append(f" · profile {safe(state.profile, 20)}")
        if state.read_only:
            line.append(" · ")
            line.append("READ-ONLY", style=f"bold {palette.warning}")
        if state.loaded:
            line.append(f" · {state.projects} projects · ")
            summary = state.summary
            line.append(f"✖ {summary.critical}", style=palette.critical)
            line.append(" ")
            line.append(f"▲ {summary.warning}", style=palette.warning)
            line.append(" ")
            line.append(f"● {summary.ok}", style=palette.ok)
            line.append(" ")
            line.append(f"○ {summary.off}", style=palette.muted)
        else:  # zeros before anything loaded would read as "all clear"
            line.append(" · no data yet", style=palette.muted)
        if state.pending:
            line.append(f" · {state.pending} pending", style=palette.accent)
        parts: list[tuple[Text, ...]] = []
        # What the table shows comes first (a narrow terminal cuts the end of the line)...
        if state.project:
            parts.append((Text(f"project: {safe(state.project, 40)}", style=palette.accent),))
        if state.problems_only:
            parts.append((Text("problems only", style=palette.warning),))
        if state.filter_text:
            parts.append((Text(f"filter: {safe(state.filter_text, 40)}", style=palette.accent),))
        keep = max(1, len(parts))  # what the table shows is never left out
        # ...then how fresh the data is: the age of what is on screen, who refreshes it, the
        # pass under way and why it is slow; the sort (the table's header shows it too) last.
        if state.error is not None:
            if state.failed_projects:  # listing worked; these projects did not refresh
                plural = "s" if state.failed_projects > 1 else ""
                stale = (
                    f"{state.failed_projects} project{plural} failed to refresh, "
                    "last good data kept · "
                )
            elif state.updated_seconds is not None:
                stale = f"stale, last good {_ago(state.updated_seconds)} · "
            else:
                stale = ""
            error = f"⚠ {stale}{format_error(state.error)}"
            if state.error_hint:
                error += f" · {state.error_hint}"
            parts.append((Text(error, style=palette.critical),))
            keep = len(parts)  # nor what went wrong
        else:
            if state.data_ages is not None:
                parts.append((Text(data_age_text(*state.data_ages), style=palette.muted),))
            if state.refreshed_by:
                parts.append((Text(f"refreshed by {state.refreshed_by}", style=palette.muted),))
            note = ""
            if state.refreshing:
                note = state.progress.note if state.progress is not None else ""
                parts.append(self._progress_forms(state.progress, note, palette))
            if state.data_ages is None and state.updated_seconds is not None:
                parts.append(
                    (Text(f"last refresh {_ago(state.updated_seconds)}", style=palette.muted),)
                )
            if state.plan_reason and state.plan_reason != note:
                parts.append((Text(short_reason(state.plan_reason), style=palette.warning),))
        order = "↓" if not state.sort_reverse else "↑"
        parts.append((Text(f"sort {state.sort}{order}", style=palette.muted),))
        second = fit_parts(parts, self.content_region.width, keep)
        line.append("\n")
        line.append_text(second)
        if line != self._last:
            self._last = line
            self.update(line, layout=False)  # fixed height: no relayout of the screen

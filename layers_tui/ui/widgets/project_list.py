"""The project list: "All projects" plus one line per project, worst first."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from layers_tui.domain.status import SEVERITY_GLYPH, Summary
from layers_tui.text import safe

from .palette import Palette

ALL = "__all__"


def project_prompt(
    name: str,
    summary: Summary | None,
    failed: bool,
    loading: bool,
    palette: Palette,
    age: str = "",
) -> Text:
    """One project's line; `age` (e.g. "3 h") marks data older than usual."""
    text = _prompt(name, summary, failed, loading, palette)
    if age:
        text.append(f" ·{age}", style=palette.muted)
    return text


def _prompt(
    name: str, summary: Summary | None, failed: bool, loading: bool, palette: Palette
) -> Text:
    if failed:
        return Text.assemble(
            ("⚠ ", palette.critical), safe(name, 18), (" failed", palette.critical)
        )
    if summary is None or loading and summary.total == 0:
        return Text.assemble(("… ", palette.muted), safe(name, 18))
    worst = summary.worst
    text = Text.assemble((f"{SEVERITY_GLYPH[worst]} ", palette.for_severity(worst)), safe(name, 18))
    if summary.critical:
        text.append(f" ✖{summary.critical}", style=palette.critical)
    if summary.warning:
        text.append(f" ▲{summary.warning}", style=palette.warning)
    if not summary.total:
        text.append(" (empty)", style=palette.muted)
    return text


class ProjectList(OptionList):
    """Options keyed by project id; prompts replaced in place when only counts change."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._prompts: dict[str, Text] = {}
        self._ids: list[str] = []

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
            for key, prompt in wanted:
                if self._prompts.get(key) != prompt:
                    self.replace_option_prompt(key, prompt)
        else:
            current = self.highlighted_option.id if self.highlighted_option else ALL
            self.set_options([Option(prompt, id=key) for key, prompt in wanted])
            self.highlighted = ids.index(current) if current in ids else 0
        self._ids = ids
        self._prompts = dict(wanted)

    @staticmethod
    def severity_order(summary: Summary | None, failed: bool) -> int:
        if failed:
            return -10
        return -int(summary.worst) if summary else 0

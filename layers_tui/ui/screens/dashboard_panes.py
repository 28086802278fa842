"""The dashboard's panes: the project list's lines, which pane has the keys, whether the
project list shows, and how many rows a filter leaves (mixed into `DashboardScreen`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from layers_tui.domain.status import span

from ..widgets.accounts_table import AccountsTable
from ..widgets.palette import palette_for
from ..widgets.project_list import ProjectList, project_prompt

if TYPE_CHECKING:
    from ..board import Board


class DashboardPanes:
    """`tab` goes between the project list and the table (never into the filter field: `/`
    goes there); `b` hides or shows the project list."""

    board: Board
    _prompts: dict[tuple, Text]
    _prompts_palette: object

    def action_cycle_focus(self) -> None:
        projects = self.query_one(ProjectList)
        table = self.query_one(AccountsTable)
        if projects.display and not projects.has_focus:
            self.set_focus(projects)
        else:
            self.set_focus(table)

    def action_toggle_sidebar(self) -> None:
        projects = self.query_one(ProjectList)
        projects.display = not projects.display
        if not projects.display and projects.has_focus:
            self.set_focus(self.query_one(AccountsTable))

    def show_row_count(self, shown: int, total: int, active: bool) -> None:
        """ "12 of 340 rows" beside the filter while a filter or problems-only hides some."""
        text = f"{shown} of {total} rows" if active else ""
        if text == getattr(self, "_row_count_text", ""):
            return
        self._row_count_text = text
        counter = self.query_one("#row-count", Static)
        counter.update(text, layout=False)  # a fixed width: no new layout per keystroke
        counter.display = active

    def _render_projects(self) -> None:
        """The project list and the totals: only when data changed, never per keystroke."""
        board = self.board
        now = self.app.clock.now()
        board.ensure_rows(now)
        palette = palette_for(self.app)
        old_after = 2 * self.app.settings.refresh_interval
        project_list = self.query_one(ProjectList)
        width = project_list.prompt_width
        if (palette, width) != self._prompts_palette:
            self._prompts, self._prompts_palette = {}, (palette, width)
        prompts: dict[tuple, Text] = {}  # reused while nothing about a project changed
        entries = []
        for project in board.projects:
            snapshot = board.snapshots.get(project.id)
            summary = board.summary(project.id) if snapshot is not None else None
            failed = bool(snapshot and snapshot.error)
            age = ""
            if snapshot is not None and snapshot.fetched_at is not None:
                seconds = (now - snapshot.fetched_at).total_seconds()
                age = span(seconds) if seconds >= old_after else ""
            key = (project.name, summary, failed, snapshot is None, age)
            prompt = self._prompts.get(key)
            if prompt is None:
                prompt = project_prompt(*key[:4], palette, age, width)
            prompts[key] = prompt
            entries.append((ProjectList.severity_order(summary, failed), project.id, prompt))
        self._prompts = prompts
        entries.sort(key=lambda entry: entry[0])  # stable: API order within a severity
        project_list.show_projects(
            [(key, prompt) for _, key, prompt in entries],
            project_prompt(
                "All projects", board.total, False, not board.listed, palette, "", width
            ),
        )

"""The dashboard's panes: which one has the keys, whether the project list shows, and how
many rows a filter leaves (mixed into `DashboardScreen`)."""

from __future__ import annotations

from textual.widgets import Static

from ..widgets.accounts_table import AccountsTable
from ..widgets.project_list import ProjectList


class DashboardPanes:
    """`tab` goes between the project list and the table (never into the filter field: `/`
    goes there); `b` hides or shows the project list."""

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

"""`J` (or the palette's Journal): the operator journal, newest first, following new entries.

Each row is one action recorded in the store (a reauth link minted, completed or cancelled,
a connect, a revoke), by whichever process made it: when, what, where, the outcome, and the
profile and host it came from. Text from the API and the store is shown literally.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from layers_tui.session.store import JournalEntry
from layers_tui.text import safe

from ..widgets.footer import KeyBar
from ..widgets.list_keys import ListTable
from .base import ReportsWorkerErrors

FOLLOW_SECONDS = 1.0  # how often the store is asked for a newer entry (one indexed query)
SHOWN = 500  # the newest entries shown; `layers-tui journal` prints them all

# 115 columns with their padding: the whole row fits 120 (narrower terminals scroll it).
COLUMNS = (
    ("time", "Time (UTC)", 19),
    ("action", "Action", 8),
    ("project", "Project", 18),
    ("account", "Account", 20),
    ("outcome", "Outcome", 14),
    ("origin", "Profile @ host", 24),
)


def outcome_of(entry: JournalEntry) -> str:
    """What came of the action: the part after `:` (`reauth:completed`), or what its
    detail says (a revoke's cancelled posts), else "done"."""
    _, _, outcome = entry.action.partition(":")
    if outcome:
        return outcome
    cancelled = entry.detail.get("cancelledPosts", entry.detail.get("cancelled_posts"))
    if cancelled is not None:
        return f"done, {safe(cancelled, 10)} post(s) cancelled"
    return "done"


def entry_cells(entry: JournalEntry, project_names: dict[str, str]) -> tuple[str, ...]:
    """The row of one entry, every string made safe (control characters shown, capped)."""
    when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    action = entry.action.partition(":")[0]
    project = ""
    if entry.project_id:
        project = project_names.get(entry.project_id) or entry.project_id
    return (
        when,
        safe(action, 20),
        safe(project, 60),
        safe(entry.account_id or "", 60),
        safe(outcome_of(entry), 40),
        f"{safe(entry.profile or 'default', 30)} @ {safe(entry.host or '?', 60)}",
    )


def _literal(text: str) -> Text:
    """A cell that is never read as markup."""
    return Text(text, no_wrap=True, overflow="ellipsis", end="")


class JournalTable(ListTable):
    """The journal table."""


class JournalScreen(ReportsWorkerErrors, Screen):
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._last_id: int | None = None
        self._count = 0

    def compose(self) -> ComposeResult:
        yield Static(id="journal-title")
        yield JournalTable(id="journal-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="journal-empty")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, width=width, key=key)
        self.follow()
        self.set_interval(FOLLOW_SECONDS, self.follow)
        table.focus()

    def follow(self) -> None:
        """Show the entries again when the store holds a newer one (any process's)."""
        store = self.app.session.store  # type: ignore[attr-defined]
        try:
            last = store.journal_last_id()
            if last == self._last_id:
                return
            entries = store.journal(limit=SHOWN)
        except Exception as error:  # sqlite3: locked, disk gone; try again next tick
            self.log.warning(f"journal read failed: {type(error).__name__}")
            return
        added = 0 if self._last_id is None else max(0, last - self._last_id)
        self._last_id = last
        self._show(entries, added)

    def _show(self, entries: list[JournalEntry], added: int) -> None:
        """Rebuild the rows (newest first); the cursor stays on the entry it was on
        (`added` new ones came in above it)."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        names = self._project_names()
        with self.app.batch_update():
            table.clear()
            for entry in entries:
                table.add_row(*(_literal(cell) for cell in entry_cells(entry, names)))
            if entries and self._count:
                table.move_cursor(row=min(len(entries) - 1, cursor + added), scroll=False)
        self._count = len(entries)
        title = f"Journal: {len(entries)} operator action(s), newest first"
        if len(entries) >= SHOWN:
            title += f" (the newest {SHOWN}; layers-tui journal prints all)"
        self.query_one("#journal-title", Static).update(Text(title, style="bold"))
        empty = self.query_one("#journal-empty", Static)
        empty.update(
            ""
            if entries
            else "No operator actions yet. Reauth links, connects and revokes are recorded here."
        )
        empty.display = not entries

    def _project_names(self) -> dict[str, str]:
        session: Any = self.app.session  # type: ignore[attr-defined]
        return {project.id: project.name for project in session.inventory.projects}

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self))

"""`J` (or the palette's Journal): the operator journal, newest first, following new entries.

Each row is one action recorded in the store (a reauth link minted, completed or cancelled,
a connect, a revoke), by whichever process made it: when, what, where, the outcome, and the
profile and host it came from. The journal records ids; the project and the account are
shown by the names the dashboard knows them by (the project's name, the account's handle or
name), and by their ids when the dashboard does not know them. Text from the API and the
store is shown literally.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from layers_tui.inventory import ProjectSnapshot

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


def account_labels(
    snapshots: Mapping[str, ProjectSnapshot], entries: Iterable[JournalEntry]
) -> dict[str, str]:
    """Account id -> what the dashboard shows for it (a social account's handle, else its
    display name; an ad account's name), for the accounts `entries` name that `snapshots`
    (the dashboard's board) hold. Only the entries' projects are looked through, unless an
    entry names an account without its project."""
    wanted = {entry.account_id for entry in entries if entry.account_id}
    if not wanted:
        return {}
    projects = {entry.project_id for entry in entries if entry.account_id}
    if None in projects:
        searched: Iterable[ProjectSnapshot] = snapshots.values()
    else:
        searched = [snapshots[pid] for pid in projects if pid is not None and pid in snapshots]
    labels: dict[str, str] = {}
    for snapshot in searched:
        for social in snapshot.social:
            label = social.handle or social.display_name
            if social.social_account_id in wanted and label:
                labels[social.social_account_id] = label
        for ad in snapshot.ads:
            if ad.ad_account_id in wanted and ad.name:
                labels[ad.ad_account_id] = ad.name
    return labels


def entry_cells(
    entry: JournalEntry,
    project_names: Mapping[str, str],
    account_names: Mapping[str, str] | None = None,
) -> tuple[str, ...]:
    """The row of one entry, every string made safe (control characters shown, capped): the
    project and the account by name where known (`project_names`, `account_names`, by id),
    else by id."""
    when = datetime.fromtimestamp(entry.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    action = entry.action.partition(":")[0]
    project = ""
    if entry.project_id:
        project = project_names.get(entry.project_id) or entry.project_id
    account = ""
    if entry.account_id:
        account = (account_names or {}).get(entry.account_id) or entry.account_id
    return (
        when,
        safe(action, 20),
        safe(project, 60),
        safe(account, 60),
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
        snapshots = self._snapshots()
        names = self._project_names(snapshots)
        accounts = account_labels(snapshots, entries)
        with self.app.batch_update():
            table.clear()
            for entry in entries:
                cells = entry_cells(entry, names, accounts)
                table.add_row(*(_literal(cell) for cell in cells))
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

    def _snapshots(self) -> Mapping[str, ProjectSnapshot]:
        """The dashboard's projects as last loaded (its board), by id: what the app knows
        of each project's accounts. Empty without a dashboard."""
        dashboard: Any = getattr(self.app, "dashboard", None)
        board = getattr(dashboard, "board", None)
        return board.snapshots if board is not None else {}

    def _project_names(self, snapshots: Mapping[str, ProjectSnapshot]) -> dict[str, str]:
        session: Any = self.app.session  # type: ignore[attr-defined]
        names = {pid: snapshot.project.name for pid, snapshot in snapshots.items()}
        names.update((project.id, project.name) for project in session.inventory.projects)
        return {pid: name for pid, name in names.items() if name}

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self))

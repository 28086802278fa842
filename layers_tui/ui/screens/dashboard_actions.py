"""The dashboard's actions: what its keys do (the screen itself only shows)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.widgets import Input

from layers_tui.api import ApiError
from layers_tui.domain.export import to_csv, to_json
from layers_tui.domain.filtering import SORT_KEYS, sort_rows
from layers_tui.domain.status import AccountRow
from layers_tui.models import Project
from layers_tui.text import safe

from ..keys import read_only_check
from ..messages import AccountRevoked, ActionFailed
from ..widgets.project_list import ProjectList

if TYPE_CHECKING:
    from textual.timer import Timer

    from layers_tui.session.inventory import Progress

    from ..app import LayersApp
    from ..board import Board

# Seconds a project stays selected before its stale data is refreshed out of turn.
FOCUS_REFRESH_DELAY = 1.0


class DashboardActions:
    """Mixed into `DashboardScreen`, which provides the board, the filter state and
    `selected_row`/`_render_table`."""

    board: Board
    filter_text: str
    problems_only: bool
    sort_column: str
    sort_reverse: bool
    visible_rows: list[AccountRow]
    progress: Progress
    _focus_timer: Timer | None

    if TYPE_CHECKING:

        def whole_store(self) -> None: ...

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """In --read-only, c r R d are dimmed on the key bar and do nothing (`key_*` below
        says why when pressed)."""
        return read_only_check(self, action)

    # A dimmed binding does not run: the key reaches the screen, which says read-only once.
    def key_c(self) -> None:
        self._say_read_only("Connecting an account")

    def key_r(self) -> None:
        self._say_read_only("Reconnecting an account")

    def key_upper_r(self) -> None:
        self._say_read_only("Bulk reauth")

    def key_d(self) -> None:
        self._say_read_only("Revoking an account")

    def _say_read_only(self, what: str) -> None:
        if self.app.settings.read_only:
            self.app.refuse_if_read_only(what)

    # -- actions ---------------------------------------------------------------------------------
    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        if field.has_focus:
            # A slash typed inside the filter (a /regex/): hand it on in order.
            field.call_later(field.insert_text_at_cursor, "/")
            return
        # Synchronous: `focus()` is deferred, and keys typed right after `/` must land here.
        self.set_focus(field)
        field.cursor_position = len(field.value)  # refine the filter, don't replace it

    def action_problems(self) -> None:
        self.problems_only = not self.problems_only
        self._render_table()

    def action_cycle_sort(self) -> None:
        index = SORT_KEYS.index(self.sort_column)
        self.sort_column = SORT_KEYS[(index + 1) % len(SORT_KEYS)]
        self.sort_reverse = False
        self._render_table()

    def action_flip_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._render_table()

    def action_refresh(self) -> None:
        """The project on screen now (one project scoped), else a full pass now, the project
        list included (data the pass finds fresh too). Says what it did unless the status
        line shows it (a pass this process runs)."""
        app = self.app
        inventory = app.session.inventory
        selected = self.query_one(ProjectList).selected_project
        if selected is not None:
            app.refresh_pass([selected])
            name = self.scoped_project_name() or selected
            what = f"Refreshing {name} now"
        elif inventory.pass_running:
            progress = self.progress
            what = (
                f"A refresh pass is already running ({progress.done} of {progress.total} "
                "projects); select a project and press ctrl+r to refresh it now"
            )
        else:
            app.refresh_pass(force=True)
            if not app.refreshed_by:
                return  # the status line shows the pass
            what = f"Refreshing all {len(self.board.projects)} projects"
        if app.refreshed_by:
            what += f": asked {app.refreshed_by}, which refreshes this store"
        app.notify(f"{what}.", markup=False, timeout=5)

    def schedule_focus_refresh(self) -> None:
        """The project on screen comes first: once it has stayed selected a moment (moving
        through the list spends no requests), its data, if older than a refresh interval,
        is refreshed now rather than in its turn in a pass (minutes away for a large
        organisation)."""
        if self._focus_timer is not None:
            self._focus_timer.stop()
        self._focus_timer = self.set_timer(FOCUS_REFRESH_DELAY, self.refresh_focused)

    def refresh_focused(self) -> None:
        self._focus_timer = None
        selected = self.query_one(ProjectList).selected_project
        snapshot = self.board.snapshots.get(selected) if selected else None
        if selected is None or snapshot is None:
            return  # nothing listed yet, or every project: the pass's own order
        fetched = snapshot.fetched_at
        age = None if fetched is None else (self.app.clock.now() - fetched).total_seconds()
        if age is None or age >= self.app.settings.refresh_interval:
            self.app.refresh_pass([selected])

    def action_details(self) -> None:
        row = self.selected_row()
        if row is None:
            return
        from .detail import DetailScreen

        snapshot = self.board.snapshots.get(row.project_id)
        try:
            history = self.app.session.store.history(account_key=row.key, limit=50)
        except Exception:  # the store's trouble never keeps the details away
            history = []
        timezone = self.board.timezones().get(row.project_id, "UTC")
        self.app.push_screen(DetailScreen(row, snapshot, history, timezone))

    def action_copy_id(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.app.copy_text(row.key, "account id")

    def action_export(self) -> None:
        self.whole_store()
        stamp = self.app.clock.now().strftime("%Y%m%d-%H%M%S")
        base = Path.cwd() / f"layers-accounts-{stamp}"
        try:
            base.with_suffix(".csv").write_text(to_csv(self.visible_rows), encoding="utf-8")
            base.with_suffix(".json").write_text(to_json(self.visible_rows), encoding="utf-8")
        except OSError as error:
            self.app.notify(
                f"Export failed: {error.strerror} ({base.parent})", severity="error", markup=False
            )
            return
        self.app.notify(
            f"Exported {len(self.visible_rows)} rows to {base}.csv and .json",
            title="Export",
            markup=False,
        )

    def action_pending(self) -> None:
        from .pending import PendingScreen

        self.app.push_screen(PendingScreen())

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self))

    def action_connect(self) -> None:
        if self.app.refuse_if_read_only("Connecting an account"):
            return
        project = self._target_project()
        if project is None:
            self.app.notify(
                "Pick a project on the left first (connect needs a project).", markup=False
            )
            return
        from .connect import ConnectDialog

        def chosen(platform: str | None) -> None:
            if platform:
                self.app.start_connect(project, platform)

        self.app.push_screen(ConnectDialog(project.name), chosen)

    def action_reauth(self) -> None:
        row = self.selected_row()
        if row is not None:
            reauth_account(self.app, row, self.board.timezones())

    def action_bulk_reauth(self) -> None:
        if self.app.refuse_if_read_only("Bulk reauth"):
            return
        self.whole_store()
        selected = self.query_one(ProjectList).selected_project
        queue = [
            row
            for row in sort_rows(self.visible_rows, "status")
            if row.kind == "social"
            and row.status == "reauth_required"
            and (selected is None or row.project_id == selected)
        ]
        if not queue:
            self.app.notify("No account needs reauth here.", markup=False)
            return
        from .confirm import BulkReauthDialog

        timezones = self.board.timezones()

        def confirmed(chosen: list[AccountRow] | None) -> None:
            if chosen:  # nothing is minted before this
                self.app.start_reauth(chosen, timezones)

        self.app.push_screen(BulkReauthDialog(queue), confirmed)

    def action_revoke(self) -> None:
        if self.app.refuse_if_read_only("Revoking an account"):
            return
        row = self.selected_row()
        if row is None:
            return
        if not row.can_revoke:
            why = {True: "leased accounts are released through Layers, not revoked"}.get(
                row.leased, "only connected social accounts can be revoked"
            )
            self.app.notify(f"Cannot revoke {safe(row.name, 40)}: {why}.", markup=False)
            return
        from .confirm import RevokeDialog

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.revoke(row)

        self.app.push_screen(RevokeDialog(row, live=self.app.is_live_key), confirmed)

    @work(group="revoke", exit_on_error=False)
    async def revoke(self, row: AccountRow) -> None:
        try:
            result = await self.app.client.revoke_social_account(row.key)
        except ApiError as error:
            self.post_message(ActionFailed(f"Revoke {safe(row.name, 40)}", error))
            return
        self.app.session.journal("revoke", project_id=row.project_id, account_id=row.key)
        self.post_message(AccountRevoked(result, safe(row.name, 40), row.project_id))

    def _target_project(self) -> Project | None:
        selected = self.query_one(ProjectList).selected_project
        if selected is not None:
            return self.board.project(selected)
        row = self.selected_row()
        return self.board.project(row.project_id) if row else None


def reauth_account(app: LayersApp, row: AccountRow, timezones: dict[str, str]) -> None:
    """`r` on an account, wherever it is pressed (dashboard, details): a reconnect flow, or
    one line saying why not."""
    if app.refuse_if_read_only("Reconnecting an account"):
        return
    if not row.can_reauth:
        why = (
            "leased accounts are managed by Layers"
            if row.leased
            else "a disconnected account cannot be reauthorised; press c for a new connection"
        )
        app.notify(f"Cannot reconnect {safe(row.name, 40)}: {why}.", markup=False)
        return
    app.start_reauth([row], timezones)

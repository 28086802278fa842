"""The app's part in connect/reconnect flows: the engine's news to screens, the store, the
journal, and the screens that start flows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from textual import work
from textual.timer import Timer

from layers_tui.api import ApiError
from layers_tui.domain.status import AccountRow
from layers_tui.flows.model import PendingFlow
from layers_tui.models import Project
from layers_tui.session.store import Change, StoreError

from .messages import FlowChanged, FlowsHalted

if TYPE_CHECKING:
    from .app import LayersApp

PERSIST_BOOKKEEPING_SECONDS = 5.0
# An account a flow just connected is announced by the flow (its screen, or the "Connected"
# toast); a refresh that sees it recover within this long says nothing more.
FLOW_OUTCOME_TOLD = timedelta(minutes=10)


class FlowWiring:
    """Mixed into `LayersApp`."""

    _saved_status: dict[str, str]
    _persist_timer: Timer | None
    _flow_connected_at: dict[str, datetime] | None = None  # account key -> completion time

    def resume_saved_flows(self: LayersApp) -> None:
        try:
            loaded = self.store.load(self.clock.now())
        except StoreError as error:
            self.store_problem = str(error)
            self.notify(
                str(error), title="Pending flows", severity="error", markup=False, timeout=15
            )
            return
        if loaded.skipped:
            self.notify(
                f"{loaded.skipped} saved pending flow(s) could not be read and were left out.",
                title="Pending flows",
                severity="warning",
                markup=False,
                timeout=15,
            )
        self.engine.adopt(loaded.flows)
        self._saved_status = {flow.id: flow.status for flow in loaded.flows}
        resumed = [flow for flow in loaded.flows if not flow.terminal]
        self.pending_count = len(resumed)
        if resumed:
            self.notify(
                f"Resumed {len(resumed)} pending flow(s) from the last session.", markup=False
            )

    def flow_minted(self: LayersApp, flow: PendingFlow) -> str | None:
        """A new link: stored once before anyone sees it, journalled, then polled. Returns
        the store's problem, if it could not be saved (the flow still runs, in memory)."""
        self._saved_status[flow.id] = flow.status
        problem = None
        try:
            self.store.save([flow], self.clock.now())
        except StoreError as error:
            problem = str(error)
        self._journal_flow(flow, first=True)
        self.engine.add(flow)
        return problem

    # -- the engine's news ------------------------------------------------------------------------
    def flow_changed(self: LayersApp, flow: PendingFlow) -> None:
        self.post_message(FlowChanged(flow))

    def flows_halted(self: LayersApp, error: ApiError) -> None:
        self.post_message(FlowsHalted(error))

    def on_flow_changed(self: LayersApp, message: FlowChanged) -> None:
        flow = message.flow
        previous = self._saved_status.get(flow.id)
        if previous != flow.status:
            self._saved_status[flow.id] = flow.status
            self.persist_flows([flow])  # a new outcome: stored at once
            self._journal_flow(flow, first=previous is None)
        elif self._persist_timer is None:
            # Poll bookkeeping only (attempts, next poll): at most every few seconds, or a
            # bulk reauth would rewrite the store dozens of times a second.
            self._persist_timer = self.set_timer(PERSIST_BOOKKEEPING_SECONDS, self._persist_later)
        self.pending_count = len(self.engine.pending())
        if flow.status == "completed":
            self._remember_flow_outcome(flow)
            self._tell_open_details(flow)
            if not self.flow_on_screen(flow.id):  # its screen already says "connected"
                what = flow.result_label or flow.account_label or flow.platform
                self.notify(
                    f"{what} connected in {flow.project_name}.", title="Connected", markup=False
                )
            self.refresh_pass([flow.project_id])
        for screen in self.screen_stack:
            if hasattr(screen, "on_flow_changed"):  # only screens that show flows
                screen.post_message(FlowChanged(flow))

    def flow_on_screen(self: LayersApp, flow_id: str) -> bool:
        """A flow screen open in the stack shows this flow (and so its outcome)."""
        from .screens.flow import FlowScreen

        return any(
            isinstance(screen, FlowScreen) and screen.flow is not None and screen.flow.id == flow_id
            for screen in self.screen_stack
        )

    def _tell_open_details(self: LayersApp, flow: PendingFlow) -> None:
        """An open details screen of the account the flow reconnected says so at once: the
        refresh below can take seconds to bring the new data (the request budget, a pass
        under way), and until then it showed "reauth required … press r" beside a flow
        screen saying "Connected"."""
        from .screens.detail import DetailScreen

        accounts = {flow.social_account_id, flow.result_account_id} - {None}
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen) and screen.row.key in accounts:
                screen.flow_completed(flow.updated_at)

    def _remember_flow_outcome(self: LayersApp, flow: PendingFlow) -> None:
        account = flow.result_account_id or flow.social_account_id
        if account:
            if self._flow_connected_at is None:
                self._flow_connected_at = {}
            self._flow_connected_at[account] = self.clock.now()

    def told_by_flow(self: LayersApp, change: Change) -> bool:
        """Whether a flow completed for this account a moment ago: the flow has announced
        it, so its recovery needs no second toast. Each completion covers one recovery."""
        told = self._flow_connected_at
        if not told:
            return False
        now = self.clock.now()
        for account in [key for key, at in told.items() if now - at > FLOW_OUTCOME_TOLD]:
            del told[account]  # old news: a later recovery is a new event
        return told.pop(change.account_key, None) is not None

    def _journal_flow(self: LayersApp, flow: PendingFlow, first: bool) -> None:
        action = f"{flow.kind}:{'minted' if first else flow.status}"
        self.session.journal(
            action,
            project_id=flow.project_id,
            account_id=flow.result_account_id or flow.social_account_id,
            flow_id=flow.id,
            platform=flow.platform,
        )

    def on_flows_halted(self: LayersApp, message: FlowsHalted) -> None:
        self.notify(
            "API access is disabled (KILL_SWITCH): polling stopped. Contact Layers.",
            title="Stopped",
            severity="error",
            markup=False,
            timeout=20,
        )
        for screen in self.screen_stack:
            screen.post_message(FlowsHalted(message.error))

    def _persist_later(self: LayersApp) -> None:
        self._persist_timer = None
        self.persist_flows()

    def persist_flows(self: LayersApp, flows: list[PendingFlow] | None = None) -> None:
        """`flows` (default: every flow) upserted. Synchronous: a few rows in SQLite (WAL)
        take well under a millisecond, and the store's connection stays on this thread."""
        try:
            self.store.save(
                list(self.engine.flows.values()) if flows is None else flows, self.clock.now()
            )
            self.store_problem = None
        except StoreError as error:
            if self.store_problem != str(error):
                self.notify(str(error), title="Pending flows", severity="error", markup=False)
            self.store_problem = str(error)

    # -- starting flows ---------------------------------------------------------------------------
    def open_initial_flow(self: LayersApp) -> None:
        """What the command line asked for (`connect`, `reauth`), found before the app
        opened or to be picked on the dashboard."""
        initial = self.initial
        if "connect_to" in initial:
            self.start_connect(*initial["connect_to"])
        elif "reauth_target" in initial:
            target = initial["reauth_target"]
            self.start_reauth([target.row], {target.row.project_id: target.timezone})
        elif "connect" in initial:
            self.open_initial_connect(*initial["connect"])
        elif "reauth" in initial:
            self.open_initial_reauth(initial["reauth"])

    def start_connect(self: LayersApp, project: Project, platform: str) -> None:
        from .screens.flow import FlowRequest, FlowScreen

        self.push_screen(FlowScreen([FlowRequest.connect(project, platform)]))

    def start_reauth(
        self: LayersApp, rows: Iterable[AccountRow], timezones: dict[str, str]
    ) -> None:
        """One flow screen for one account, or a queue for a bulk reauth."""
        from .screens.flow import FlowRequest, FlowScreen

        requests = [FlowRequest.reauth(row, timezones.get(row.project_id, "UTC")) for row in rows]
        self.push_screen(FlowScreen(requests))

    def show_flow(self: LayersApp, flow: PendingFlow) -> None:
        from .screens.flow import FlowRequest, FlowScreen

        self.push_screen(FlowScreen([FlowRequest.resume(flow)]))

    @work(group="mint", exit_on_error=False)
    async def open_initial_connect(self: LayersApp, project_id: str, platform: str) -> None:
        try:
            project = await self.client.get_project(project_id)
        except ApiError as error:
            self.notify(f"Cannot connect: {error}", severity="error", markup=False, timeout=15)
            return
        self.start_connect(project, platform)

    @work(group="mint", exit_on_error=False)
    async def open_initial_reauth(self: LayersApp, account_id: str) -> None:
        from layers_tui.domain.status import social_row
        from layers_tui.inventory import load_project, load_projects

        try:
            for project in await load_projects(self.client):
                snapshot = await load_project(self.client, project, self.clock.now())
                for account in snapshot.social:
                    if account.social_account_id == account_id:
                        self.start_reauth(
                            [social_row(account, project, self.clock.now())],
                            {project.id: project.timezone},
                        )
                        return
        except ApiError as error:
            self.notify(f"Cannot reauth: {error}", severity="error", markup=False, timeout=15)
            return
        self.notify(
            f"No social account {account_id} in this organisation.",
            severity="error",
            markup=False,
            timeout=15,
        )

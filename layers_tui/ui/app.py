"""LayersApp: wiring of settings, client, flow engine, store and screens."""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import webbrowser
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.segment import Segments
from textual import work
from textual.app import App, SystemCommand
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from layers_tui import paths
from layers_tui.api import ApiError, LayersClient, RateLimitInfo, key_env, key_id
from layers_tui.clock import Clock, SystemClock
from layers_tui.config import Settings
from layers_tui.domain.status import AccountRow
from layers_tui.flows.budget import RequestBudget
from layers_tui.flows.engine import FlowEngine
from layers_tui.flows.model import PendingFlow
from layers_tui.flows.store import FlowStore, StoreError
from layers_tui.models import Project, WhoAmI

from .commands import commands_for
from .messages import FlowChanged, FlowsHalted, Identified, IdentifyFailed

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("layers_tui.ui")
STYLES = Path(__file__).parent / "styles"
PERSIST_BOOKKEEPING_SECONDS = 5.0
Opener = Callable[[str], bool]


def browser_opener(url: str) -> bool:
    return webbrowser.open(url, new=2)


class LayersApp(App[int]):
    CSS_PATH = [
        STYLES / "app.tcss",
        STYLES / "dashboard.tcss",
        STYLES / "flow.tcss",
        STYLES / "dialogs.tcss",
    ]
    TITLE = "layers-tui"

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        state_dir: Path | None = None,
        opener: Opener | None = None,
        initial: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        autopoll: bool = True,
        jitter_seed: int | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self._transport = transport
        self.opener: Opener = opener or browser_opener
        self.initial = initial or {}
        self.env = env
        self.autopoll = autopoll  # tests drive `engine.tick()` on a fake clock instead
        self.jitter_seed = jitter_seed  # fixed poll jitter for reproducible snapshots
        self.store = FlowStore(
            state_dir or paths.flows_dir(settings.base_url, key_id(settings.api_key), settings.demo)
        )
        self.budget = RequestBudget(self.clock, 120)
        self.key_env = key_env(settings.api_key)
        self.client: LayersClient
        self.engine: FlowEngine
        self.whoami: WhoAmI | None = None
        self.store_problem: str | None = None
        self._saved_status: dict[str, str] = {}
        self._persist_timer: Timer | None = None

    @property
    def is_live_key(self) -> bool:
        return self.key_env == "live"

    # -- start-up ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        else:
            self.notify(f"Unknown theme {self.settings.theme!r}; using {self.theme}.", markup=False)
        assert self.settings.api_key is not None
        self.client = LayersClient(
            self.settings.base_url,
            self.settings.api_key,
            transport=self._transport,
            clock=self.clock,
            on_rate_limit=self._rate_limit_seen,
        )
        self.engine = FlowEngine(
            self.client,
            self.clock,
            self._flow_changed,
            budget=self.budget,
            on_halt=self._flows_halted,
            rng=random.Random(self.jitter_seed) if self.jitter_seed is not None else None,
        )
        self._resume_saved_flows()
        from .screens.dashboard import DashboardScreen

        self.push_screen(
            DashboardScreen(self.initial.get("filter", ""), bool(self.initial.get("problems")))
        )
        self.identify()
        if self.autopoll:
            self.run_worker(self.engine.run(), group="flows", exit_on_error=False)
        if "connect" in self.initial:
            self.open_initial_connect(*self.initial["connect"])
        elif "reauth" in self.initial:
            self.open_initial_reauth(self.initial["reauth"])

    def _rate_limit_seen(self, info: RateLimitInfo) -> None:
        """The server's count of what is left wins over our own bookkeeping."""
        if info.bucket == "read-light":
            self.budget.observe_remaining(info.remaining)

    def _resume_saved_flows(self) -> None:
        try:
            loaded = self.store.load(self.clock.now())
        except StoreError as error:
            self.store_problem = str(error)
            self.notify(
                str(error), title="Pending flows", severity="error", markup=False, timeout=15
            )
            return
        if loaded.quarantined is not None:
            self.notify(
                f"The pending-flow file was damaged and moved aside to "
                f"{loaded.quarantined}; starting with what could be read.",
                title="Pending flows",
                severity="warning",
                markup=False,
                timeout=15,
            )
        self.engine.adopt(loaded.flows)
        self._saved_status = {flow.id: flow.status for flow in loaded.flows}
        resumed = [flow for flow in loaded.flows if not flow.terminal]
        if resumed:
            self.notify(
                f"Resumed {len(resumed)} pending flow(s) from the last session.", markup=False
            )

    async def on_unmount(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            await client.aclose()

    @work(group="identify", exit_on_error=False)
    async def identify(self) -> None:
        try:
            whoami = await self.client.whoami()
        except ApiError as error:
            self.screen.post_message(IdentifyFailed(error))
            return
        self.whoami = whoami
        self.budget.set_tier(whoami.rate_limit_tier)
        if whoami.kill_switch or whoami.api_access_revoked:
            self.screen.post_message(
                IdentifyFailed(
                    ApiError(
                        200, "KILL_SWITCH", "whoami reports this key or organisation as disabled."
                    )
                )
            )
            return
        self.screen.post_message(Identified(whoami))

    # -- flows ------------------------------------------------------------------------------------
    def _flow_changed(self, flow: PendingFlow) -> None:
        self.post_message(FlowChanged(flow))

    def _flows_halted(self, error: ApiError) -> None:
        self.post_message(FlowsHalted(error))

    def on_flow_changed(self, message: FlowChanged) -> None:
        flow = message.flow
        if self._saved_status.get(flow.id) != flow.status:
            self._saved_status[flow.id] = flow.status
            self.persist_flows()  # a new flow or a new outcome: on disk at once
        elif self._persist_timer is None:
            # Poll bookkeeping only (attempts, next poll): at most every few seconds, or a
            # bulk reauth would rewrite the file dozens of times a second.
            self._persist_timer = self.set_timer(PERSIST_BOOKKEEPING_SECONDS, self._persist_later)
        if flow.status == "completed":
            what = flow.result_label or flow.account_label or flow.platform
            self.notify(
                f"{what} connected in {flow.project_name}.", title="Connected", markup=False
            )
        for screen in self.screen_stack:
            screen.post_message(FlowChanged(flow))

    def on_flows_halted(self, message: FlowsHalted) -> None:
        self.notify(
            "API access is disabled (KILL_SWITCH): polling stopped. Contact Layers.",
            title="Stopped",
            severity="error",
            markup=False,
            timeout=20,
        )
        for screen in self.screen_stack:
            screen.post_message(FlowsHalted(message.error))

    def _persist_later(self) -> None:
        self._persist_timer = None
        self.persist_flows()

    @work(group="persist", exit_on_error=False)
    async def persist_flows(self) -> None:
        try:
            await asyncio.to_thread(
                self.store.save, list(self.engine.flows.values()), self.clock.now()
            )
            self.store_problem = None
        except StoreError as error:
            if self.store_problem != str(error):
                self.notify(str(error), title="Pending flows", severity="error", markup=False)
            self.store_problem = str(error)

    def start_connect(self, project: Project, platform: str) -> None:
        from .screens.flow import FlowRequest, FlowScreen

        self.push_screen(FlowScreen([FlowRequest.connect(project, platform)]))

    def start_reauth(self, rows: Iterable[AccountRow], timezones: dict[str, str]) -> None:
        """One flow screen for one account, or a queue for a bulk reauth."""
        from .screens.flow import FlowRequest, FlowScreen

        requests = [FlowRequest.reauth(row, timezones.get(row.project_id, "UTC")) for row in rows]
        self.push_screen(FlowScreen(requests))

    def show_flow(self, flow: PendingFlow) -> None:
        from .screens.flow import FlowRequest, FlowScreen

        self.push_screen(FlowScreen([FlowRequest.resume(flow)]))

    @work(group="mint", exit_on_error=False)
    async def open_initial_connect(self, project_id: str, platform: str) -> None:
        try:
            project = await self.client.get_project(project_id)
        except ApiError as error:
            self.notify(f"Cannot connect: {error}", severity="error", markup=False, timeout=15)
            return
        self.start_connect(project, platform)

    @work(group="mint", exit_on_error=False)
    async def open_initial_reauth(self, account_id: str) -> None:
        from layers_tui.inventory import load_project, load_projects

        try:
            for project in await load_projects(self.client):
                snapshot = await load_project(self.client, project, self.clock.now())
                for account in snapshot.social:
                    if account.social_account_id == account_id:
                        from layers_tui.domain.status import social_row

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

    # -- failures nobody else caught ---------------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.worker_state_changed(event)

    def worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker's failure, the app's and every screen's, reaches the user: workers
        run with `exit_on_error=False`, so anything they did not catch would vanish."""
        if event.state is not WorkerState.ERROR or event.worker.error is None:
            return
        import traceback

        from layers_tui.logs import redact
        from layers_tui.text import safe

        error = event.worker.error
        where = event.worker.group or event.worker.name or "background"
        log.error("worker %s failed: %s", where, redact("".join(traceback.format_exception(error))))
        summary = safe(redact(f"{type(error).__name__}: {error}"), 300)
        self.notify(
            f"Unexpected error in the {where} task: {summary} (details in the log file).",
            title="Error",
            severity="error",
            markup=False,
            timeout=15,
        )

    # -- helpers for screens ---------------------------------------------------------------------
    def refuse_if_read_only(self, what: str) -> bool:
        if self.settings.read_only:
            self.notify(
                f"{what} is disabled: layers-tui runs read-only (--read-only or "
                "read_only in config).",
                title="Read-only",
                severity="warning",
                markup=False,
            )
        return self.settings.read_only

    def copy_text(self, text: str, what: str) -> None:
        self.copy_to_clipboard(text)
        from layers_tui.probes import clipboard_probe

        probe = clipboard_probe(self.env)
        note = "" if probe.ok else f" ({probe.detail})"
        self.notify(
            f"Copied {what} to the terminal clipboard (OSC 52; the terminal cannot "
            f"confirm it){note}.",
            title="Copy",
            markup=False,
            timeout=6,
        )

    def _fatal_error(self) -> None:
        """Crash report without local variables: Textual's default prints locals, which
        could hold the API key. The full (redacted) traceback goes to the log file."""
        import traceback

        import rich
        from rich.traceback import Traceback

        from layers_tui.logs import redact

        log.error("crash: %s", redact(traceback.format_exc()))
        self.bell()
        report = Traceback(show_locals=False, width=None, suppress=[rich], max_frames=8)
        self._exit_renderables.append(Segments(self.console.render(report, self.console.options)))
        self._close_messages_no_wait()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from commands_for(screen)


def launch(settings: Settings, initial: dict[str, Any]) -> int:
    """Run the dashboard; print still-pending links on exit so they outlive the alt screen."""
    from layers_tui.clock import DemoClock
    from layers_tui.logs import setup_logging

    setup_logging(paths.log_dir())
    if settings.demo:
        app = LayersApp(settings, initial=initial, clock=DemoClock())
    else:
        app = LayersApp(settings, initial=initial)
    app.run()
    engine = getattr(app, "engine", None)
    if engine is not None:
        for flow in engine.pending():
            print(  # noqa: T201 - the links must outlive the alternate screen
                f"Still pending ({flow.project_name}, {flow.platform}, expires "
                f"{flow.expires_at:%H:%M} UTC): {flow.authorize_url}",
                file=sys.stderr,
            )
    return app.return_code or 0

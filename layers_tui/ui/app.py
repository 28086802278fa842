"""LayersApp: wiring of the session, the flow engine and the screens."""

from __future__ import annotations

import logging
import random
import webbrowser
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer

from layers_tui.api import ApiError, LayersClient, key_env
from layers_tui.clock import Clock, SystemClock
from layers_tui.config import Settings
from layers_tui.flows.budget import RequestBudget
from layers_tui.flows.engine import FlowEngine
from layers_tui.models import WhoAmI
from layers_tui.session.session import FlowRecords, Session, open_session

from .commands import commands_for
from .flow_wiring import FlowWiring
from .refresh import RefreshDriver
from .services import AppServices

if TYPE_CHECKING:
    import httpx

    from .screens.dashboard import DashboardScreen

log = logging.getLogger("layers_tui.ui")
STYLES = Path(__file__).parent / "styles"
Opener = Callable[[str], bool]


def browser_opener(url: str) -> bool:
    return webbrowser.open(url, new=2)


class LayersApp(RefreshDriver, FlowWiring, AppServices, App[int]):
    CSS_PATH = [
        STYLES / "app.tcss",
        STYLES / "dashboard.tcss",
        STYLES / "flow.tcss",
        STYLES / "dialogs.tcss",
    ]
    TITLE = "layers-tui"
    # `?` on every screen: a screen's own binding (listed with its keys) comes first; this
    # one answers where a screen has none.
    BINDINGS = [Binding("question_mark", "help", "Help")]

    # What every screen binds to (`self.watch(self.app, ...)`), whichever is on top.
    whoami: var[WhoAmI | None] = var(None)
    identity_error: var[ApiError | None] = var(None)
    pending_count: var[int] = var(0)
    refreshed_by: var[str | None] = var(None)  # another process holds the refresh lease
    # Why the data on screen may be stale: the refresh's last failure (None while they work).
    data_error: var[ApiError | None] = var(None)

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
        self._state_dir = state_dir  # tests: the store and the old flow file live here
        self.opener: Opener = opener or browser_opener
        self.initial = initial or {}
        self.env = env
        self.autopoll = autopoll  # tests drive `engine.tick()` on a fake clock instead
        self.jitter_seed = jitter_seed  # fixed poll jitter for reproducible snapshots
        self.key_env = key_env(settings.api_key)
        self.session: Session
        self.engine: FlowEngine
        self.dashboard: DashboardScreen | None = None
        self.store_problem: str | None = None
        self._saved_status: dict[str, str] = {}
        self._persist_timer: Timer | None = None

    @property
    def is_live_key(self) -> bool:
        return self.key_env == "live"

    @property
    def client(self) -> LayersClient:
        return self.session.client

    @property
    def store(self) -> FlowRecords:
        return self.session.flow_records

    @property
    def budget(self) -> RequestBudget:
        return self.session.budget

    # -- start-up ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        else:
            self.notify(f"Unknown theme {self.settings.theme!r}; using {self.theme}.", markup=False)
        self.session = self._open_session()
        self.tell_store_problems()
        self.session.cached_tier()
        self.engine = FlowEngine(
            self.client,
            self.clock,
            self.flow_changed,
            budget=self.budget,
            on_halt=self.flows_halted,
            rng=random.Random(self.jitter_seed) if self.jitter_seed is not None else None,
        )
        self.resume_saved_flows()
        from .screens.dashboard import DashboardScreen

        self.dashboard = DashboardScreen(
            self.initial.get("filter", ""), bool(self.initial.get("problems"))
        )
        self.push_screen(self.dashboard)
        self.identify()
        self.start_refreshing()
        if self.autopoll:
            self.run_worker(self.engine.run(), group="flows", exit_on_error=False)
        self.open_initial_flow()

    def on_ready(self) -> None:
        if self.dashboard is not None:
            self.dashboard.first_frame_shown()

    def _open_session(self) -> Session:
        listener = self.inventory_event
        if self._state_dir is None:
            return open_session(
                self.settings, clock=self.clock, transport=self._transport, listener=listener
            )
        return Session(
            self.settings,
            clock=self.clock,
            transport=self._transport,
            store_path=self._state_dir / "state.sqlite3",
            legacy_flows_dir=self._state_dir,
            listener=listener,
            profile=self.settings.profile,
        )

    async def on_unmount(self) -> None:
        session = getattr(self, "session", None)
        if session is not None:
            await session.aclose()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from commands_for(screen)

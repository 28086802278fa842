"""Scenes shared by the snapshot tests and `scripts/screenshots.py`.

Each scene builds an app with the same factory the CLI uses (fake clock, in-process sandbox)
and drives it with a `run_before(pilot)` coroutine, so docs and tests cannot drift.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from textual.pilot import Pilot

from layers_tui.clock import FakeClock
from layers_tui.config import Settings
from layers_tui.sandbox import SandboxClock, create_app
from layers_tui.ui.app import LayersApp
from layers_tui.ui.screens.dashboard import DashboardScreen
from layers_tui.ui.screens.flow import FlowScreen

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BASE = "http://localhost:8787"
RETURN_URL = "http://localhost:8787/sandbox/return"
HOSTILE_HANDLES = [
    "[bold red]ADMIN",
    "[@click=app.quit]x[/]",
    "[link=https://evil.example]support[/link]",
    "[/]",
    "evil\x1b]52;c;aGVsbG8=\x07clip",
    "wipe\x1b[2J\x1b[Hscreen",
    "c1\x9b31mred",
    "bell\x07\rOK",
    "rtl\u202eolleh",
    "東京カフェ☕",
]


class FaultyTransport(httpx.AsyncBaseTransport):
    """Wraps the sandbox transport; requests whose path contains a marker answer 500."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.fail_paths: set[str] = set()
        self.offline = False
        self.reject_key = False  # send a wrong key: the sandbox answers 401 UNAUTHENTICATED
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.offline:
            raise httpx.ConnectError("connection refused", request=request)
        if self.reject_key:
            request.headers["Authorization"] = "Bearer lp_test_WRONG000000000000001_" + "b" * 32
        if any(marker in request.url.path for marker in self.fail_paths):
            body = {
                "error": {
                    "code": "INTERNAL",
                    "message": "Injected failure",
                    "requestId": "req_SCENE0000000000000000000001",
                }
            }
            return httpx.Response(
                500, json=body, headers={"X-Request-Id": body["error"]["requestId"]}
            )
        return await self.inner.handle_async_request(request)


@dataclass
class Harness:
    app: LayersApp
    sandbox: Any
    clock: FakeClock
    transport: FaultyTransport
    state_dir: Path
    opened: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.sandbox.state.sandbox.demo_key

    def control(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.sandbox),
            base_url=BASE,
            headers={"Authorization": f"Bearer {self.key}"},
        )


def build(
    *,
    theme: str = "textual-dark",
    read_only: bool = False,
    seed: int | None = 0,
    state_dir: Path | None = None,
    clock: FakeClock | None = None,
    sandbox: Any = None,
    no_color: bool = False,
    **settings: Any,
) -> Harness:
    """The app as the CLI builds it, on a fake clock and an in-process sandbox. `no_color`
    builds it with `NO_COLOR=1` in the environment, which Textual reads at construction."""
    clock = clock or FakeClock(START)
    sandbox = sandbox or create_app(clock=SandboxClock(base=clock.now), rng_seed=1, seed=seed)
    transport = FaultyTransport(httpx.ASGITransport(app=sandbox))
    values = {
        "api_key": sandbox.state.sandbox.demo_key,
        "base_url": BASE,
        "return_url": RETURN_URL,
        "ads_redirect_url": RETURN_URL,
        "demo": True,
        "theme": theme,
        "read_only": read_only,
    } | settings
    state = state_dir or Path(tempfile.mkdtemp(prefix="layers-tui-scene-"))
    opened: list[str] = []
    saved_no_color = os.environ.pop("NO_COLOR", None)
    if no_color:
        os.environ["NO_COLOR"] = "1"
    try:
        app = LayersApp(
            Settings(**values),
            clock=clock,
            transport=transport,
            state_dir=state,
            opener=lambda url: opened.append(url) or True,
            env={},
            autopoll=False,
            jitter_seed=1,
        )
    finally:
        os.environ.pop("NO_COLOR", None)
        if saved_no_color is not None:
            os.environ["NO_COLOR"] = saved_no_color
    app.animation_level = "none"
    return Harness(app, sandbox, clock, transport, state, opened)


def dashboards(pilot: Pilot) -> list[DashboardScreen]:
    return [screen for screen in pilot.app.screen_stack if isinstance(screen, DashboardScreen)]


async def settle(pilot: Pilot) -> None:
    """Let workers finish and their messages land (never a real-time sleep)."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        for screen in dashboards(pilot):
            screen.flush_render()  # the coalescing timer runs on real time
        await pilot.pause()


async def loaded(pilot: Pilot) -> None:
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.pause()


async def poll(pilot: Pilot, harness: Harness, seconds: float) -> None:
    """Advance the fake clock and let the flow engine poll, as the real loop would, jumping
    straight to each poll that falls due."""
    remaining = seconds
    while remaining > 0:
        due = harness.app.engine.next_due()
        step = remaining if due is None else (due - harness.clock.now()).total_seconds()
        step = min(max(step, 0.5), remaining)
        harness.clock.advance(step)
        remaining -= step
        await harness.app.engine.tick()
        await pilot.pause()
    await settle(pilot)


def screen_text(app: Any) -> str:
    """What the terminal would show, as plain text (from the compositor's output)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


# -- scenes --------------------------------------------------------------------------------------
Scene = Callable[[Pilot, Harness], Awaitable[None]]


async def dashboard(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)


async def detail(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await pilot.press("down", "enter")
    await loaded(pilot)


async def filtered(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await pilot.press("slash")
    pilot.app.screen.query_one("#filter").cursor_blink = False
    await pilot.press(*"status:reauth")
    await loaded(pilot)


async def problems_only(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await pilot.press("exclamation_mark")
    await loaded(pilot)


def advance(pilot: Pilot, harness: Harness, seconds: float) -> None:
    """Move the fake clock and run the dashboard's once-a-second tick for the new time now:
    its real-time timer would otherwise recompute the rows whenever the test happens to take
    longer than a second, making relative times depend on the machine's speed."""
    harness.clock.advance(seconds)
    for screen in dashboards(pilot):
        screen.tick()


async def stale(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    advance(pilot, harness, 95)
    harness.transport.offline = True
    await pilot.press("ctrl+r")
    await loaded(pilot)


async def key_rejected(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    advance(pilot, harness, 95)
    harness.transport.reject_key = True
    await pilot.press("ctrl+r")
    await loaded(pilot)


async def failed_project(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    projects = pilot.app.screen.board.projects
    target = next(p for p in projects if p.name == "Pixel Pals Games")
    harness.transport.fail_paths.add(target.id)
    advance(pilot, harness, 61)
    await pilot.press("ctrl+r")
    await loaded(pilot)


async def revoke_confirm(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await select_account(pilot, "acmecoffee")
    await pilot.press("d")
    await loaded(pilot)


async def revoked(pilot: Pilot, harness: Harness) -> None:
    await revoke_confirm(pilot, harness)
    await pilot.press("tab", "enter")
    await settle(pilot)


async def empty_org(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)


async def empty_project(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await pilot.press("shift+tab")
    await highlight_project(pilot, "Lumen Skincare")
    await loaded(pilot)


async def no_match(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await pilot.press("slash")
    pilot.app.screen.query_one("#filter").cursor_blink = False
    await pilot.press(*"nosuchaccount")
    await pilot.press("enter")
    await loaded(pilot)


async def no_sidebar_scrolled(pilot: Pilot, harness: Harness) -> None:
    """The project list hidden (b) and the table one column to the right (l)."""
    await loaded(pilot)
    await pilot.press("b", "l")
    await pilot.pause()


async def help_overlay(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await pilot.press("question_mark")
    await loaded(pilot)


async def connect_dialog(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await select_account(pilot, "acmecoffee")
    await pilot.press("c")
    await loaded(pilot)


async def flow_pending(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await select_account(pilot, "acme_baristas")
    await pilot.press("r")
    await settle(pilot)
    await poll(pilot, harness, 13)
    pilot.app.clear_notifications()
    await pilot.pause()


async def flow_completed(pilot: Pilot, harness: Harness) -> None:
    await flow_pending(pilot, harness)
    await pilot.press("a")
    await settle(pilot)
    await poll(pilot, harness, 6)
    pilot.app.clear_notifications()
    await pilot.pause()


async def flow_denied(pilot: Pilot, harness: Harness) -> None:
    await flow_pending(pilot, harness)
    await pilot.press("x")
    await settle(pilot)
    await poll(pilot, harness, 6)
    pilot.app.clear_notifications()
    await pilot.pause()


async def flow_expired(pilot: Pilot, harness: Harness) -> None:
    await flow_pending(pilot, harness)
    advance(pilot, harness, 600)  # nobody consented: jump past the 10-minute TTL
    await poll(pilot, harness, 1)
    pilot.app.clear_notifications()
    await pilot.pause()


async def flow_cancelled(pilot: Pilot, harness: Harness) -> None:
    await flow_pending(pilot, harness)
    await pilot.press("ctrl+x")
    await loaded(pilot)


async def flow_no_return_url(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await select_account(pilot, "acme_baristas")
    await pilot.press("r")
    await loaded(pilot)


async def flow_rejected_host(pilot: Pilot, harness: Harness) -> None:
    async with harness.control() as control:
        await control.post("/sandbox/allowlist", json={"hosts": ["app.example.com"]})
    await flow_no_return_url(pilot, harness)


async def bulk_reauth_list(pilot: Pilot, harness: Harness) -> None:
    """`R`: the accounts it would reauth, the second one dropped (space); nothing minted."""
    await loaded(pilot)
    await pilot.press("R")
    await settle(pilot)
    await pilot.press("j", "space")
    await loaded(pilot)


async def bulk_reauth(pilot: Pilot, harness: Harness) -> None:
    await loaded(pilot)
    await pilot.press("R")
    await settle(pilot)
    await pilot.press("enter")  # the list as offered: every account
    await settle(pilot)
    await poll(pilot, harness, 3)
    await pilot.press("a")
    await settle(pilot)
    await poll(pilot, harness, 8)
    pilot.app.clear_notifications()
    await pilot.pause()


async def pending_panel(pilot: Pilot, harness: Harness) -> None:
    await flow_completed(pilot, harness)
    await pilot.press("escape")
    await select_account(pilot, "northwindfitness")
    await pilot.press("r")
    await settle(pilot)
    await pilot.press("x")
    await settle(pilot)
    await poll(pilot, harness, 6)
    await pilot.press("escape")
    await select_account(pilot, "pixelpals_jp")
    await pilot.press("r")
    await settle(pilot)
    await poll(pilot, harness, 8)
    await pilot.press("escape", "p")
    await loaded(pilot)


async def journal(pilot: Pilot, harness: Harness) -> None:
    """The journal screen over a few recorded operator actions (one with a hostile handle)."""
    await loaded(pilot)
    session = harness.app.session
    project = session.inventory.projects[0]
    for action, account in (
        ("reauth:minted", "sa_demo_1"),
        ("reauth:completed", "sa_demo_1"),
        ("connect:minted", None),
        ("connect:expired", None),
        ("revoke", "[@click=app.quit]x[/]"),
    ):
        session.journal(action, project_id=project.id, account_id=account)
        harness.clock.advance(90)
    await pilot.app.run_action("journal")
    await loaded(pilot)


async def select_account(pilot: Pilot, name: str) -> None:
    screen = pilot.app.screen
    rows = screen.visible_rows
    index = next(i for i, row in enumerate(rows) if row.name == name)
    table = screen.query_one("#accounts")
    table.focus()
    table.follow_top = False
    table.move_cursor(row=index)
    await pilot.pause()


async def start_reauth(pilot: Pilot, name: str = "acme_baristas") -> FlowScreen:
    """`r` on the named account, from the loaded dashboard: its flow screen, link minted."""
    await loaded(pilot)
    await select_account(pilot, name)
    await pilot.press("r")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, FlowScreen) and screen.flow is not None
    return screen


def notes(app: Any) -> list[str]:
    """The toasts the app has shown, as text."""
    return [str(notification.message) for notification in app._notifications]


async def highlight_project(pilot: Pilot, name: str) -> None:
    screen = pilot.app.screen
    project_list = screen.query_one("#projects")
    for index in range(project_list.option_count):
        option = project_list.get_option_at_index(index)
        if name in str(option.prompt):
            project_list.highlighted = index
            break
    await pilot.pause()


@dataclass(frozen=True)
class SceneSpec:
    run: Scene
    size: tuple[int, int] = (120, 40)
    options: dict[str, Any] = field(default_factory=dict)


SCENES: dict[str, SceneSpec] = {
    "dashboard": SceneSpec(dashboard),
    "dashboard_80x24": SceneSpec(dashboard, (80, 24)),
    "dashboard_light": SceneSpec(dashboard, options={"theme": "textual-light"}),
    "dashboard_read_only": SceneSpec(dashboard, options={"read_only": True}),
    "detail": SceneSpec(detail),
    "filtered": SceneSpec(filtered),
    "problems_only": SceneSpec(problems_only),
    "stale_offline": SceneSpec(stale),
    "failed_project": SceneSpec(failed_project),
    "revoke_confirm": SceneSpec(revoke_confirm),
    "revoked": SceneSpec(revoked),
    "empty_org": SceneSpec(empty_org, options={"seed": None}),
    "empty_project": SceneSpec(empty_project),
    "no_match": SceneSpec(no_match),
    "help": SceneSpec(help_overlay),
    "connect_dialog": SceneSpec(connect_dialog),
    "flow_pending": SceneSpec(flow_pending),
    "flow_too_small_80x24": SceneSpec(flow_pending, (80, 24)),
    "flow_completed": SceneSpec(flow_completed),
    "flow_denied": SceneSpec(flow_denied),
    "flow_expired": SceneSpec(flow_expired),
    "flow_cancelled": SceneSpec(flow_cancelled),
    "flow_no_return_url": SceneSpec(flow_no_return_url, options={"return_url": None}),
    "flow_rejected_host": SceneSpec(flow_rejected_host),
    "bulk_reauth": SceneSpec(bulk_reauth),
    "bulk_reauth_list": SceneSpec(bulk_reauth_list),
    "bulk_reauth_list_80x24": SceneSpec(bulk_reauth_list, (80, 24)),
    "pending_panel": SceneSpec(pending_panel),
    "journal": SceneSpec(journal),
    # Wide and colourless: Textual's opacity (stale) and monochrome (NO_COLOR) filters meet
    # the blank area right of the table's last column only past ~150 columns.
    "stale_offline_200x50": SceneSpec(stale, (200, 50)),
    "key_rejected_200x50": SceneSpec(key_rejected, (200, 50)),
    "dashboard_no_color_200x50": SceneSpec(dashboard, (200, 50), {"no_color": True}),
    "stale_no_color_200x50": SceneSpec(stale, (200, 50), {"no_color": True}),
    "flow_pending_200x50": SceneSpec(flow_pending, (200, 50)),
    "pending_panel_200x50": SceneSpec(pending_panel, (200, 50)),
    "pending_panel_80x24": SceneSpec(pending_panel, (80, 24)),
    "flow_completed_80x24": SceneSpec(flow_completed, (80, 24)),
    "flow_completed_200x50": SceneSpec(flow_completed, (200, 50)),
    "dashboard_read_only_80x24": SceneSpec(dashboard, (80, 24), {"read_only": True}),
    "dashboard_200x50": SceneSpec(dashboard, (200, 50)),
    "dashboard_80x24_no_sidebar_scrolled": SceneSpec(no_sidebar_scrolled, (80, 24)),
}


def scene_app(name: str) -> tuple[Harness, Callable[[Pilot], Awaitable[None]]]:
    spec = SCENES[name]
    harness = build(**spec.options)

    async def run_before(pilot: Pilot) -> None:
        await spec.run(pilot, harness)

    return harness, run_before

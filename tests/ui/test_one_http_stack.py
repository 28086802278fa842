"""One HTTP stack: every request of a dashboard start, a refresh and a flow poll goes through
the app's single httpx client, over a real loopback socket (no in-process transport, so the
client picks its own, as in production)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import httpx

from layers_tui.clock import FakeClock
from layers_tui.config import Settings
from layers_tui.sandbox import SandboxClock, create_app
from layers_tui.sandbox.server import SandboxServer
from layers_tui.ui.app import LayersApp
from tests.scenes import RETURN_URL, START, loaded, poll, select_account, settle

SIZE = (120, 40)


class CountingApp:
    """The sandbox, counting every HTTP request it serves (its own view of the traffic)."""

    def __init__(self, app) -> None:
        self.app = app
        self.state = app.state
        self.seen: Counter[str] = Counter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.seen[f"{scope['method']} {scope['path']}"] += 1
        await self.app(scope, receive, send)


async def test_start_refresh_and_poll_all_go_through_the_one_httpx_client(tmp_path, monkeypatch):
    through_httpx: Counter[str] = Counter()
    clients: list[httpx.AsyncClient] = []
    send = httpx.AsyncHTTPTransport.handle_async_request
    init = httpx.AsyncClient.__init__

    async def counted_send(self, request: httpx.Request) -> httpx.Response:
        through_httpx[f"{request.method} {request.url.path}"] += 1
        return await send(self, request)

    def counted_init(self, *args, **kwargs) -> None:
        clients.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", counted_send)
    monkeypatch.setattr(httpx.AsyncClient, "__init__", counted_init)

    clock = FakeClock(START)
    sandbox = CountingApp(create_app(clock=SandboxClock(base=clock.now), rng_seed=1, seed=0))
    with SandboxServer(sandbox) as server:
        app = LayersApp(
            Settings(
                api_key=sandbox.state.sandbox.demo_key,
                base_url=server.base_url,
                return_url=RETURN_URL,
                ads_redirect_url=RETURN_URL,
                demo=True,
            ),
            clock=clock,
            state_dir=tmp_path / "flows",
            opener=lambda url: True,
            env={},
            autopoll=False,
            jitter_seed=1,
        )
        app.animation_level = "none"
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            started = sum(sandbox.seen.values())
            await pilot.press("ctrl+r")
            await loaded(pilot)
            refreshed = sum(sandbox.seen.values())
            await select_account(pilot, "acme_baristas")
            await pilot.press("r")
            await settle(pilot)
            await poll(pilot, SimpleNamespace(app=app, clock=clock), 6)
            assert app.screen.flow.status == "pending"
        polls = sum(n for k, n in sandbox.seen.items() if "/oauth-status/" in k)

    assert started > 6 and refreshed > started  # the start and the refresh did fetch
    assert any(k.startswith("POST ") and "reauth-url" in k for k in sandbox.seen)
    assert polls >= 1
    assert through_httpx == sandbox.seen  # every request the sandbox saw came through httpx
    assert len(clients) == 1  # and through one client

"""Issues 5, 10 and 11: 200 pending flows on the partner tier, in the real app.

The app runs headless (`App.run_test`, 120x40) on the real clock with its engine loop on, and
talks to an in-process sandbox (partner tier, 10 projects x 2 accounts) through its one httpx
client. 200 links are minted through that client and handed to the app as the flow screen
does. After a warm-up, the same process is measured in alternating windows with the pending
panel closed (dashboard on top) and open: CPU seconds (all threads) per wall second, as a
percentage of one core. Prints the median of the runs for each, and their ratio.

The figure includes the sandbox (same process and thread); its own share is estimated by
timing the sandbox's ASGI calls and printed beside it. Target: < 6% of one core, panel open.

    .venv/bin/python benches/bench_many_flows.py [--window 15] [--runs 3] [--flows 200]
        [--only-handlers] [--tick SECONDS]

`--only-handlers` measures a proposed app change: FlowChanged is forwarded only to screens
that handle it (today every screen gets it, Textual's bare default screen included, and a
message to a background screen makes Textual repaint the screen on top). `--tick` sets how
often the panel redraws its bookkeeping and countdowns (default 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from layers_tui.config import Settings  # noqa: E402
from layers_tui.flows.engine import new_flow  # noqa: E402
from layers_tui.sandbox import create_app  # noqa: E402
from layers_tui.ui.app import LayersApp  # noqa: E402
from layers_tui.ui.screens import pending  # noqa: E402
from layers_tui.ui.screens.pending import PendingScreen  # noqa: E402

BASE = "http://localhost:8787"
RETURN_URL = f"{BASE}/sandbox/return"
WARM_UP = 12.0  # mint, first load of the dashboard, first polls spread over 5 s


class MeteredSandbox:
    """The sandbox's ASGI app, counting its requests and the CPU spent inside them (an
    estimate: other tasks that run while a request awaits are counted too)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.cpu = 0.0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.requests += 1
        started = time.thread_time()
        try:
            await self.app(scope, receive, send)
        finally:
            self.cpu += time.thread_time() - started


class CountingTransport(httpx.AsyncBaseTransport):
    """The app's transport: every request it sends passes here (and polls are timed)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0
        self.statuses: dict[int, int] = defaultdict(int)
        self.polls: dict[str, list[float]] = defaultdict(list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if "/oauth-status/" in request.url.path:
            self.polls[request.url.path].append(time.monotonic())
        response = await self.inner.handle_async_request(request)
        self.statuses[response.status_code] += 1
        return response


def build(flows: int) -> tuple[LayersApp, MeteredSandbox, CountingTransport]:
    sandbox = create_app(tier="partner", projects=10, accounts_per_project=2, rng_seed=1)
    metered = MeteredSandbox(sandbox)
    transport = CountingTransport(httpx.ASGITransport(app=metered))
    settings = Settings(
        api_key=sandbox.state.sandbox.demo_key,
        base_url=BASE,
        return_url=RETURN_URL,
        ads_redirect_url=RETURN_URL,
        demo=True,
    )
    app = LayersApp(
        settings,
        transport=transport,
        state_dir=Path(tempfile.mkdtemp(prefix="bench-many-flows-")),
        opener=lambda url: True,
        env={},
        autopoll=True,
        jitter_seed=1,
    )
    app.animation_level = "none"
    return app, metered, transport


async def mint(app: LayersApp, count: int) -> None:
    """Mint `count` links through the app's client and hand them over as the flow screen
    does (saved, journalled, then polled), all in one burst like a bulk reauth."""
    client = app.client
    projects = (await client.list_projects()).items
    hand_over = getattr(app, "flow_minted", None) or app.engine.add
    for number in range(count):
        project = projects[number % len(projects)]
        link = await client.social_oauth_url(project.id, "instagram", RETURN_URL)
        hand_over(
            new_flow(
                "connect",
                link,
                project_id=project.id,
                project_name=project.name,
                platform="instagram",
                now=app.clock.now(),
            )
        )


async def window(seconds: float, metered: MeteredSandbox) -> tuple[float, float, int]:
    """(CPU % of one core, estimated sandbox share %, requests) over `seconds` of wall time."""
    cpu, sandbox, requests = time.process_time(), metered.cpu, metered.requests
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    return (
        100 * (time.process_time() - cpu) / elapsed,
        100 * (metered.cpu - sandbox) / elapsed,
        metered.requests - requests,
    )


async def run(flows: int, seconds: float, runs: int) -> None:
    app, metered, transport = build(flows)
    closed: list[tuple[float, float, int]] = []
    opened: list[tuple[float, float, int]] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await mint(app, flows)
        await asyncio.sleep(WARM_UP)
        for _ in range(runs):
            closed.append(await window(seconds, metered))
            await pilot.press("p")
            await pilot.pause()
            assert isinstance(app.screen, PendingScreen)
            opened.append(await window(seconds, metered))
            await pilot.press("escape")
            await pilot.pause()
        pending = app.engine.pending_count
    gaps = [
        later - earlier
        for times in transport.polls.values()
        for earlier, later in zip(times, times[1:], strict=False)
    ]
    print(
        f"{flows} pending flows, partner tier, real app headless (120x40) + in-process sandbox, "
        f"{runs} x {seconds:.0f} s windows each"
    )
    print(
        f"requests through the app's one client: {transport.requests}; the sandbox served "
        f"{metered.requests}; statuses {dict(transport.statuses)}; still pending: {pending}"
    )
    print(
        f"polls per second: {statistics.median(r / seconds for _, _, r in closed + opened):.1f}; "
        f"shortest gap between polls of one flow: {min(gaps):.2f} s (floor 5 s)"
    )
    for name, figures in (("panel closed", closed), ("panel open  ", opened)):
        print(
            f"{name}: median {statistics.median(c for c, _, _ in figures):.1f}% of one core "
            f"(runs {', '.join(f'{c:.1f}' for c, _, _ in figures)}); sandbox share about "
            f"{statistics.median(s for _, s, _ in figures):.1f}%"
        )
    ratio = statistics.median(c for c, _, _ in opened) / statistics.median(c for c, _, _ in closed)
    print(f"open / closed: {ratio:.2f}x (target: open < 6% of one core)")


def forward_only_to_handlers() -> None:
    """Drop FlowChanged posted to a screen without a handler for it (see --only-handlers)."""
    from textual.screen import Screen

    from layers_tui.ui.messages import FlowChanged

    post = Screen.post_message

    def post_if_handled(screen: Screen, message: Any) -> bool:
        if isinstance(message, FlowChanged) and not hasattr(screen, "on_flow_changed"):
            return True
        return post(screen, message)

    Screen.post_message = post_if_handled  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--window", type=float, default=15.0, help="seconds per window")
    parser.add_argument("--runs", type=int, default=3, help="windows per condition")
    parser.add_argument("--only-handlers", action="store_true")
    parser.add_argument("--tick", type=float, default=None, help="panel redraw period, s")
    options = parser.parse_args()
    if options.tick is not None:
        pending.TICK_SECONDS = options.tick
        print(f"pending panel redraws every {options.tick:g} s")
    if options.only_handlers:
        forward_only_to_handlers()
        print("FlowChanged forwarded only to screens that handle it (proposed app change)")
    asyncio.run(run(options.flows, options.window, options.runs))


if __name__ == "__main__":
    main()

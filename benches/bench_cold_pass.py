"""Issue 11: a cold first pass on the standard tier (120 reads a minute), in simulated time.

The session's inventory fills an empty store from an in-process sandbox whose clock is the
session's fake clock, so the sandbox's rate limiter and our request budget both run on the
same simulated time and the pass takes seconds of wall time. Prints the pass's simulated
duration against the minimum the budget allows (requests / (0.9 x 120 per minute)) and the
429s the sandbox answered. Target: within 1.15x of that minimum, zero 429s.

Usage: .venv/bin/python benches/bench_cold_pass.py [PROJECTS]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from layers_tui.clock import FakeClock  # noqa: E402
from layers_tui.config import Settings  # noqa: E402
from layers_tui.sandbox import SandboxClock, create_app  # noqa: E402
from layers_tui.session.session import Session  # noqa: E402

BASE = "http://localhost:8787"
START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Counting(httpx.AsyncBaseTransport):
    def __init__(self, app) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.statuses: Counter[int] = Counter()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.requests += 1
        self.statuses[response.status_code] += 1
        return response


async def main(projects: int) -> None:
    clock = FakeClock(START)
    sandbox = create_app(
        clock=SandboxClock(base=clock.now),
        projects=projects,
        accounts_per_project=20,
        tier="standard",
        rng_seed=1,
    )
    transport = Counting(sandbox)
    settings = Settings(api_key=sandbox.state.sandbox.demo_key, base_url=BASE)
    store = Path(tempfile.mkdtemp(prefix="bench-cold-")) / "state.sqlite3"
    session = Session(settings, clock=clock, transport=transport, store_path=store)
    await session.identify()
    before = transport.requests
    started, wall = clock.monotonic(), time.perf_counter()
    result = await session.inventory.refresh()
    simulated = clock.monotonic() - started
    wall = time.perf_counter() - wall
    requests = transport.requests - before
    minimum = requests / (0.9 * 120 / 60)
    await session.aclose()
    print(f"{projects} projects x 20 accounts, standard tier, empty store")
    print(f"refreshed {len(result.refreshed)}, failed {len(result.failed)}")
    print(f"{requests} requests in {simulated:.0f} s simulated ({wall:.1f} s wall)")
    print(f"minimum the budget allows: {minimum:.0f} s; ratio {simulated / minimum:.3f}x")
    print(f"(target <= 1.15x); 429s answered: {transport.statuses.get(429, 0)} (target 0)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))

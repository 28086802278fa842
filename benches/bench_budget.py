"""Issue 5: one request budget. Standard tier (120 read-light requests/minute), 50 projects,
20 pending flows, 5 simulated minutes against the sandbox enforcing the tier (in-process,
sharing a fake clock). Prints 429s, the longest gap between polls of any flow, and
dashboard refreshes achieved against what the budget left over allows."""

from __future__ import annotations

import asyncio
import math
import sys
from collections import defaultdict
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from layers_tui.api import LayersClient  # noqa: E402
from layers_tui.clock import FakeClock  # noqa: E402
from layers_tui.flows.budget import HEADROOM, RequestBudget  # noqa: E402
from layers_tui.flows.engine import FlowEngine, new_flow  # noqa: E402
from layers_tui.inventory import load_project, load_projects  # noqa: E402
from layers_tui.sandbox import SandboxClock, create_app  # noqa: E402

BASE, RETURN = "http://localhost:8787", "http://localhost:8787/sandbox/return"
PROJECTS, FLOWS, MINUTES, STEP = 50, 20, 5, 0.1


async def main() -> None:
    clock = FakeClock()
    app = create_app(
        clock=SandboxClock(base=clock.now),
        tier="standard",
        projects=PROJECTS,
        accounts_per_project=20,
        rng_seed=5,
    )
    key = app.state.sandbox.demo_key
    statuses: list[int | None] = []
    budget = RequestBudget.for_tier(clock, "standard")
    client = LayersClient(
        BASE,
        key,
        transport=httpx.ASGITransport(app=app),
        clock=clock,
        max_retries=0,
        observer=lambda method, path, status: statuses.append(status),
        on_rate_limit=lambda info: (
            info.bucket == "read-light" and budget.observe_remaining(info.remaining)
        ),
    )
    polls: dict[str, list[float]] = defaultdict(list)

    def changed(flow) -> None:
        if flow.last_polled_at is not None and (
            not polls[flow.id] or polls[flow.id][-1] != flow.last_polled_at
        ):
            polls[flow.id].append(flow.last_polled_at.timestamp())

    engine = FlowEngine(client, clock, changed, budget=budget)
    async with client:
        projects = await load_projects(client)
        for number in range(FLOWS):
            project = projects[number % PROJECTS]
            link = await client.social_oauth_url(project.id, "tiktok", RETURN)
            engine.add(
                new_flow(
                    "connect",
                    link,
                    project_id=project.id,
                    project_name=project.name,
                    platform="tiktok",
                    now=clock.now(),
                )
            )
        start = clock.now().timestamp()
        end = start + MINUTES * 60
        cycles, queue, next_cycle = 0.0, [], start
        while clock.now().timestamp() < end:
            await engine.tick()
            now = clock.now().timestamp()
            if not queue and now >= next_cycle:
                queue, cycle_started = list(projects), now
            while queue and budget.try_take("background", cost=2):
                await load_project(client, queue.pop(0), clock.now())
                if not queue:
                    cycles += 1
                    plan = budget.refresh_plan(PROJECTS, 60)
                    next_cycle = cycle_started + plan.interval
            clock.advance(STEP)
        cycles += (PROJECTS - len(queue)) / PROJECTS if queue else 0
    gaps = [b - a for times in polls.values() for a, b in zip(times, times[1:], strict=False)]
    per_refresh = 1 + 2 * PROJECTS
    spare_per_minute = 120 * HEADROOM - FLOWS * 60 / budget.flow_cadence()
    possible = MINUTES * spare_per_minute / per_refresh
    print(f"standard tier, {PROJECTS} projects, {FLOWS} pending flows, {MINUTES} simulated minutes")
    print(f"requests: {len(statuses)}, 429s: {statuses.count(429)} (target 0)")
    print(
        f"flow cadence: {budget.flow_cadence():.1f}s; longest gap between polls of one "
        f"flow: {max(gaps):.1f}s (target <= 15s); polls per flow: "
        f"{min(len(t) for t in polls.values())}..{max(len(t) for t in polls.values())}"
    )
    print(
        f"dashboard refreshes: {cycles:.2f} achieved vs {possible:.2f} possible with what "
        f"the flows leave ({spare_per_minute:.0f} req/min for {per_refresh} requests each)"
    )
    print(f"refresh plan shown to the user: {budget.refresh_plan(PROJECTS, 60).reason!r}")
    assert math.isfinite(possible)


if __name__ == "__main__":
    asyncio.run(main())

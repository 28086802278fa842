"""Issue 5: 200 pending states on the partner tier for 2 minutes of real time against a
sandbox in another process. No state may be polled faster than its cadence (5 s floor);
the poller should use under 5% of one core."""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches._sandbox import KEY, sandbox_process  # noqa: E402
from layers_tui.api import LayersClient  # noqa: E402
from layers_tui.flows.budget import RequestBudget  # noqa: E402
from layers_tui.flows.engine import FlowEngine, new_flow  # noqa: E402

STATES, SECONDS = 200, 120


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(base: str) -> None:
    polls: dict[str, list[float]] = defaultdict(list)
    statuses: list[int | None] = []

    def changed(flow) -> None:
        if flow.last_polled_at is not None and (
            not polls[flow.id] or polls[flow.id][-1] != flow.last_polled_at
        ):
            polls[flow.id].append(flow.last_polled_at.timestamp())

    async with LayersClient(base, KEY, observer=lambda m, p, s: statuses.append(s)) as client:
        budget = RequestBudget.for_tier(client.clock, (await client.whoami()).rate_limit_tier)
        engine = FlowEngine(client, client.clock, changed, budget=budget)
        projects = (await client.list_projects()).items
        for number in range(STATES):
            link = await client.social_oauth_url(
                projects[number % len(projects)].id,
                "instagram",
                "http://localhost:1/sandbox/return",
            )
            engine.add(
                new_flow(
                    "connect",
                    link,
                    project_id=projects[0].id,
                    project_name="x",
                    platform="instagram",
                    now=client.clock.now(),
                )
            )
        statuses.clear()
        before, started = cpu(), time.monotonic()
        task = asyncio.create_task(engine.run())
        await asyncio.sleep(SECONDS)
        task.cancel()
        used, elapsed = cpu() - before, time.monotonic() - started
    gaps = [b - a for times in polls.values() for a, b in zip(times, times[1:], strict=False)]
    print(f"{STATES} pending states, partner tier, {elapsed:.0f}s real time")
    print(
        f"polls: {len(statuses)}, 429s: {statuses.count(429)}; shortest gap between polls "
        f"of one state: {min(gaps):.2f}s (must be >= 5s); longest: {max(gaps):.2f}s"
    )
    print(f"poller CPU: {used:.2f}s = {100 * used / elapsed:.1f}% of one core (target < 5%)")


def main() -> None:
    with sandbox_process(projects=10, accounts_per_project=2) as base:
        asyncio.run(run(base))


if __name__ == "__main__":
    main()

"""Issue 3: load 200 projects from a sandbox adding 50 ms per request.

Prints the concurrency-bound floor, the concurrent load (median of runs) and the sequential
load measured in the same run, and their ratios.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches._sandbox import KEY, sandbox_process  # noqa: E402
from layers_tui.api import LayersClient  # noqa: E402
from layers_tui.inventory import load_inventory  # noqa: E402

PROJECTS, LATENCY, RUNS = 200, 0.050, 5


async def load_one_by_one(base: str) -> float:
    """The baseline: every list fetched after the previous one finished."""
    async with LayersClient(base, KEY) as client:
        await client.whoami()
        started = time.perf_counter()
        projects = (await client.list_projects(limit=200)).items
        for project in projects:
            await client.all_social_accounts(project.id)
            await client.list_ad_accounts(project.id)
        return time.perf_counter() - started


async def load(base: str, concurrency: int) -> float:
    async with LayersClient(base, KEY) as client:
        await client.whoami()  # warm the connection pool, as the app does at start
        started = time.perf_counter()
        inventory = await load_inventory(client, client.clock.now, concurrency)
        elapsed = time.perf_counter() - started
    assert len(inventory.snapshots) == PROJECTS and not inventory.failed
    return elapsed


def main() -> None:
    concurrency = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    with sandbox_process(
        projects=PROJECTS, accounts_per_project=5, latency_ms=int(LATENCY * 1000)
    ) as base:
        # 1 request for the project list, then each project's two lists in parallel
        floor = LATENCY * (1 + math.ceil(PROJECTS / concurrency))
        runs = [asyncio.run(load(base, concurrency)) for _ in range(RUNS)]
        concurrent = statistics.median(runs)
        sequential = asyncio.run(load_one_by_one(base))
    print(f"projects={PROJECTS} latency={LATENCY * 1000:.0f}ms concurrency={concurrency}")
    print(f"floor (concurrency bound): {floor:.3f}s")
    print(
        f"concurrent load, median of {RUNS}: {concurrent:.3f}s "
        f"({concurrent / floor:.2f}x the floor; target <= 1.25x)"
    )
    print(
        f"one after another (baseline, same run): {sequential:.3f}s "
        f"({sequential / concurrent:.1f}x slower; target >= 8x)"
    )


if __name__ == "__main__":
    main()

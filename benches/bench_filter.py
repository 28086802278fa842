"""Issue 4: 10,000 accounts loaded; filter keystroke to repaint (median) and RSS.

Runs the real app headless against an in-process sandbox of 500 projects x 20 accounts.
A keystroke is timed from setting the filter field's value (what typing does) until the
app has written the next frame (Textual's `_display` hook), which includes waiting for the
frame timer. Pilot's wait-for-idle sleeps between keystrokes are not part of it.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from layers_tui.clock import FakeClock  # noqa: E402
from layers_tui.sandbox import SandboxClock, create_app  # noqa: E402
from tests.scenes import build, loaded  # noqa: E402

PROJECTS, PER_PROJECT = 500, 20
KEYSTROKES = [
    "c",
    "cu",
    "cus",
    "cust",
    "custo",
    "customer1",
    "customer12",
    "customer12_",
    "status:reauth",
    "!platform:tiktok",
    "",
    "tiktok",
]


async def main() -> None:
    clock = FakeClock()
    sandbox = create_app(
        clock=SandboxClock(base=clock.now),
        rng_seed=3,
        projects=PROJECTS,
        accounts_per_project=PER_PROJECT,
        tier="partner",  # one load of every project: more than standard's 120 reads a minute
    )
    harness = build(clock=clock, sandbox=sandbox, concurrency=16)
    app = harness.app
    async with app.run_test(size=(120, 40)) as pilot:
        started = time.perf_counter()
        await loaded(pilot)
        load_seconds = time.perf_counter() - started
        screen = app.screen
        total = len(screen.visible_rows)
        frames: list[float] = []
        display = app._display

        def record(*args, **kwargs):
            display(*args, **kwargs)
            frames.append(time.perf_counter())

        app._display = record
        field = screen.query_one("#filter")
        timings = []
        for text in KEYSTROKES:
            await pilot.pause()
            frames.clear()
            started = time.perf_counter()
            field.value = text
            while not frames:  # noqa: ASYNC110 - spin without sleeping: we time the frame
                await asyncio.sleep(0)
            timings.append(frames[0] - started)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"accounts loaded: {total} in {load_seconds:.2f}s (sandbox in the same process)")
    print("per keystroke (ms):", [round(t * 1000, 1) for t in timings])
    print(
        f"filter keystroke -> repaint: median {statistics.median(timings) * 1000:.1f} ms, "
        f"max {max(timings) * 1000:.1f} ms (target: median < 50 ms)"
    )
    print(f"peak RSS: {rss_mb:.0f} MB (target < 200 MB; includes the in-process sandbox)")


if __name__ == "__main__":
    asyncio.run(main())

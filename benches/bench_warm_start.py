"""Issue 11: warm start. The local store already holds 2,000 projects x 20 accounts (fresh);
time from spawning `layers-tui` to the populated dashboard painted, against the start of the
6-project demo organisation with an empty store, both measured in the same run as fresh
interpreters, interleaved; medians of RUNS each. Target: the big warm start within 1.3x of
the small one.

A store this large is first drawn from a preview (every project with its counts, the table's
worst accounts: `Board.load_preview`) and then read whole: "first screen" is when the
preview has been drawn and Textual's first frame has reached the terminal (at 120x40 no width
breakpoint moves the project list afterwards), "every row" when all 40,000 rows are in the
table. The demo has one moment for both.

Also prints how many project-list and account-list requests the warm start made (target:
none; the store is fresh)."""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benches._sandbox import KEY, append_line, list_requests, sandbox_process  # noqa: E402

RUNS = 7
PROJECTS, ACCOUNTS = 2000, 20
APP = """
import asyncio, sys, time
from pathlib import Path
from layers_tui.config import Settings
from layers_tui.ui.app import LayersApp
from layers_tui.ui.screens.dashboard import DashboardScreen

first = []
go_on = DashboardScreen._finish_after_preview


def preview_on_screen(screen):
    waiting = not screen._preview_finishing
    go_on(screen)
    if waiting and screen._preview_finishing:  # drawn, and frames reach the terminal
        first.append(time.time())


DashboardScreen._finish_after_preview = preview_on_screen
# The store is fresh for an hour: this measures the start, not a relist.
settings = Settings(api_key=sys.argv[1], base_url=sys.argv[2], refresh_interval=3600)
app = LayersApp(settings, state_dir=Path(sys.argv[4]))

async def auto(pilot):
    wanted = int(sys.argv[3])
    while True:
        screen = pilot.app.screen
        board = getattr(screen, "board", None)
        if (
            board is not None
            and board.listed
            and not board.previewing
            and len(screen.visible_rows) >= wanted
        ):
            break
        await asyncio.sleep(0.002)
    await pilot.pause()
    done = time.time()
    print(first[0] if first else done, done)
    pilot.app.exit()

app.run(headless=True, size=(120, 40), auto_pilot=auto)
"""
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def fill_store(directory: Path) -> None:
    """A store as a finished sync of 2,000 x 20 would leave it, written directly."""
    from layers_tui.domain.status import Thresholds
    from layers_tui.inventory import ProjectSnapshot
    from layers_tui.models import Project, SocialAccount
    from layers_tui.session.inventory import stored_accounts
    from layers_tui.session.store import Store

    now = datetime.now(UTC)
    store = Store.open(directory / "state.sqlite3", now)
    projects = [
        {"id": f"prj_{n:05d}", "name": f"Client {n}", "timezone": "UTC"} for n in range(PROJECTS)
    ]
    store.replace_projects(projects, now)
    statuses = ["connected"] * 16 + ["reauth_required", "disconnected", "connected", "connected"]
    for doc in projects:
        project = Project.model_validate(doc)
        social = tuple(
            SocialAccount.model_validate(
                {
                    "socialAccountId": f"sa_{doc['id']}_{k:02d}",
                    "platform": "tiktok" if k % 2 else "instagram",
                    "handle": f"handle_{doc['id']}_{k}",
                    "status": statuses[k],
                    "tokenExpiresAt": (now + timedelta(days=k + 1)).isoformat(),
                }
            )
            for k in range(ACCOUNTS)
        )
        snapshot = ProjectSnapshot(project, social, fetched_at=now)
        store.save_project(project.id, stored_accounts(snapshot, now, Thresholds()), [], now)
    store.close()


def timed(*args: str) -> tuple[float, float]:
    """(seconds to the first screen, seconds to every row in the table)."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", APP, *args],
        check=True,
        cwd=tempfile.gettempdir(),
        env=ENV,
        capture_output=True,
        text=True,
    )
    first, every = (float(value) for value in done.stdout.split()[-2:])
    return first - started, every - started


def main() -> None:
    big = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    started = time.perf_counter()
    fill_store(big)
    print(f"store filled with {PROJECTS} x {ACCOUNTS} in {time.perf_counter() - started:.1f}s")
    log = big / "requests.log"
    with (
        sandbox_process(projects=0, log_requests=functools.partial(append_line, str(log))) as empty,
        sandbox_process() as demo_base,
    ):
        wanted = str(PROJECTS * ACCOUNTS)
        timed(KEY, empty, wanted, str(big))  # warm-up: file cache and bytecode
        warm, demo = [], []
        for _ in range(RUNS):
            warm.append(timed(KEY, empty, wanted, str(big)))
            demo.append(timed(KEY, demo_base, "20", tempfile.mkdtemp(prefix="bench-demo-")))
    demo_s = statistics.median(every for _, every in demo)
    first_s = statistics.median(first for first, _ in warm)
    every_s = statistics.median(every for _, every in warm)
    print(f"demo organisation (6 projects), empty store: median {demo_s:.3f}s")
    print(f"warm start, {PROJECTS} x {ACCOUNTS} in the store:")
    print(f"  first screen (projects, counts, worst accounts): median {first_s:.3f}s")
    print(f"  every row in the table: median {every_s:.3f}s ({every_s / demo_s:.2f}x the demo)")
    print(f"ratio {first_s / demo_s:.2f}x (target <= 1.3x)")
    print(f"list requests during {RUNS + 1} warm starts: {list_requests(log)} (target: 0)")


if __name__ == "__main__":
    main()

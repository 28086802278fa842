"""Issue 4: start to a populated dashboard (50 projects x 20 accounts, sandbox already
running) against a floor: a bare Textual app importing the same libraries and painting one
static widget. Both run as fresh interpreters, interleaved; medians of RUNS each.

Measured from process spawn to the frame being painted (the child prints the wall clock
then), so interpreter teardown after quitting counts for neither."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benches._sandbox import KEY, sandbox_process  # noqa: E402

RUNS = 11
FLOOR = """
import time
import textual, httpx, pydantic, platformdirs, segno
from textual.app import App
from textual.widgets import Static

class Floor(App):
    def compose(self):
        yield Static("layers-tui")

async def auto(pilot):
    await pilot.pause()
    print(time.time())
    pilot.app.exit()

Floor().run(headless=True, size=(120, 40), auto_pilot=auto)
"""
APP = """
import asyncio, sys, tempfile, time
from pathlib import Path
from layers_tui.config import Settings
from layers_tui.ui.app import LayersApp

settings = Settings(api_key=sys.argv[1], base_url=sys.argv[2])
app = LayersApp(settings, state_dir=Path(tempfile.mkdtemp()))

async def auto(pilot):
    wanted = int(sys.argv[3])
    while True:
        screen = pilot.app.screen
        board = getattr(screen, "board", None)
        if board is not None and board.listed and len(screen.visible_rows) >= wanted:
            break
        await asyncio.sleep(0.002)
    await pilot.pause()
    print(time.time())
    pilot.app.exit()

app.run(headless=True, size=(120, 40), auto_pilot=auto)
"""


# Like a user's install: bytecode cached (pip compiles the libraries' at install time; this
# writes ours on the warm-up run, which some CI images disable with PYTHONDONTWRITEBYTECODE).
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(code: str, *args: str) -> float:
    """Seconds from spawning the interpreter to the painted frame."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=True,
        cwd=tempfile.gettempdir(),
        env=ENV,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.split()[-1]) - started


def main() -> None:
    with (
        sandbox_process(projects=50, accounts_per_project=20) as base,
        sandbox_process(projects=0) as empty_base,
    ):
        # warm-up: file cache and bytecode
        timed(FLOOR), timed(APP, KEY, base, "1000"), timed(APP, KEY, empty_base, "0")
        floor, app, empty = [], [], []
        for _ in range(RUNS):
            floor.append(timed(FLOOR))
            app.append(timed(APP, KEY, base, "1000"))
            empty.append(timed(APP, KEY, empty_base, "0"))
    floor_s, app_s = statistics.median(floor), statistics.median(app)
    empty_s = statistics.median(empty)
    print(f"floor (bare Textual app, same imports, one widget): median {floor_s:.3f}s")
    print(f"layers-tui to a populated dashboard (1,000 accounts): median {app_s:.3f}s")
    print(f"ratio {app_s / floor_s:.2f}x (target <= 1.25x)")
    # The same screen with nothing to load: what the screen itself costs over the floor.
    print(f"layers-tui, empty organisation: median {empty_s:.3f}s, {empty_s / floor_s:.2f}x")


if __name__ == "__main__":
    main()

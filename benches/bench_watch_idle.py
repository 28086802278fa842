"""Issue 12: `watch` idle CPU between refreshes (target: under 1% of a core).

Starts a sandbox on loopback in its own process (PROJECTS x ACCOUNTS), then
`python -m layers_tui watch` as a subprocess against it (with and without
`--metrics 127.0.0.1:0`), waits until the first pass has saved every project to the store,
lets it settle, and samples the process's CPU time (user + system, /proc) over SECONDS of
idle (well inside the 60 s refresh interval). Prints % of a core per run and the median of
RUNS runs."""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benches._sandbox import KEY, sandbox_process  # noqa: E402

PROJECTS, ACCOUNTS = 20, 10
SECONDS = 20.0
SETTLE = 3.0
RUNS = 3


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stores(state_dir: Path) -> list[Path]:
    return list(state_dir.rglob("*.sqlite3"))


def first_pass_done(state_dir: Path) -> bool:
    """Every project of the sandbox saved once (read through a read-only connection)."""
    for path in stores(state_dir):
        try:
            with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
                (count,) = db.execute(
                    "SELECT COUNT(*) FROM project_state WHERE refreshed_at IS NOT NULL"
                ).fetchone()
        except sqlite3.Error:
            continue
        if count >= PROJECTS:
            return True
    return False


def one_run(base: str, extra: list[str]) -> float:
    """% of a core `watch` used over SECONDS of idle after its first pass."""
    state_dir = Path(tempfile.mkdtemp(prefix="bench-watch-idle-"))
    env = dict(
        os.environ,
        LAYERS_API_KEY=KEY,
        LAYERS_BASE_URL=base,
        LAYERS_STATE_DIR=str(state_dir),
        LAYERS_CONFIG_DIR=tempfile.mkdtemp(),
        LAYERS_LOG_DIR=tempfile.mkdtemp(),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "layers_tui", "watch", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not first_pass_done(state_dir):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"watch did not finish its first pass (exit {process.poll()})")
            time.sleep(0.2)
        time.sleep(SETTLE)
        before, started = cpu_seconds(process.pid), time.monotonic()
        time.sleep(SECONDS)
        used, elapsed = cpu_seconds(process.pid) - before, time.monotonic() - started
    finally:
        process.terminate()
        process.wait(10)
    return 100 * used / elapsed


def main() -> None:
    with sandbox_process(projects=PROJECTS, accounts_per_project=ACCOUNTS) as base:
        for name, extra in (("watch", []), ("watch --metrics", ["--metrics", "127.0.0.1:0"])):
            shares = [one_run(base, extra) for _ in range(RUNS)]
            runs = ", ".join(f"{share:.2f}%" for share in shares)
            print(
                f"{name}: idle CPU over {SECONDS:.0f}s after the first pass ({PROJECTS} x "
                f"{ACCOUNTS}): median {statistics.median(shares):.2f}% of a core "
                f"(runs: {runs}; target < 1%)"
            )


if __name__ == "__main__":
    main()

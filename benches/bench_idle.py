"""Issue 4: CPU of the dashboard left open and idle for 60 s, in a real pseudo-terminal
(120x40), against a sandbox in another process (50 projects x 20 accounts)."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benches._sandbox import KEY, sandbox_process  # noqa: E402

SECONDS = 60


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    with sandbox_process(projects=50, accounts_per_project=20) as base:
        leader, follower = os.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        env = dict(
            os.environ,
            TERM="xterm-256color",
            LAYERS_API_KEY=KEY,
            LAYERS_BASE_URL=base,
            LAYERS_STATE_DIR=tempfile.mkdtemp(),
            LAYERS_CONFIG_DIR=tempfile.mkdtemp(),
            LAYERS_LOG_DIR=tempfile.mkdtemp(),
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "layers_tui"],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env=env,
            start_new_session=True,
        )
        drained = threading.Thread(target=lambda: _drain(leader), daemon=True)
        drained.start()
        time.sleep(8)  # start, load and settle
        before, started = cpu_seconds(process.pid), time.monotonic()
        time.sleep(SECONDS)
        used, elapsed = cpu_seconds(process.pid) - before, time.monotonic() - started
        process.terminate()
        process.wait(5)
    print(
        f"idle dashboard for {elapsed:.0f}s: {used:.2f}s CPU = {100 * used / elapsed:.2f}% "
        "of one core (target < 2%)"
    )


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


if __name__ == "__main__":
    main()

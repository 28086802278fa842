"""`layers-tui check | head`: a reader that stops early is not a failure. The command keeps
its own exit code (a monitoring wrapper reads it) and prints no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_with_closed_stdout(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("LAYERS_") and key != "NO_COLOR"
    }
    env |= {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "LAYERS_CONFIG_DIR": str(tmp_path / "config"),
        "LAYERS_STATE_DIR": str(tmp_path / "state"),
    }
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails with EPIPE
    try:
        return subprocess.run(
            [sys.executable, "-m", "layers_tui", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)


def test_check_keeps_its_exit_code_when_the_reader_is_gone(tmp_path):
    done = run_with_closed_stdout(["check", "--json"], tmp_path)  # no key: UNKNOWN
    assert done.returncode == 3
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr


def test_other_commands_end_quietly_when_the_reader_is_gone(tmp_path):
    done = run_with_closed_stdout(["--help"], tmp_path)
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr

"""The issue's demo, scripted in scripts/alert_demo.py: a token expires in a real loopback
sandbox; watch's metric, one command alert and `history` all show it within one refresh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "alert_demo.py"


def test_the_alert_demo_passes():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--deadline", "25"],
        capture_output=True,
        text=True,
        timeout=40,
        cwd=SCRIPT.parents[1],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "demo: OK"
    assert any(line.startswith("metric: layers_account_status") for line in lines)
    assert any(line.startswith("alert: account.severity_changed to demo-command") for line in lines)
    assert any(
        "connected -> reauth_required" in line for line in lines if line.startswith("history")
    )

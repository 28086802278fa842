"""The demo keeps its world between runs (so a pending flow survives a restart), apart from
real profiles; --reset-demo starts it over."""

from __future__ import annotations

import httpx

from layers_tui import paths
from layers_tui.cli import start_demo_sandbox


def test_demo_world_is_kept_between_runs_and_reset_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERS_STATE_DIR", str(tmp_path))
    first = start_demo_sandbox()
    try:
        key = first.app.state.sandbox.demo_key
        port = first.port
        headers = {"Authorization": f"Bearer {key}"}
        created = httpx.post(
            f"{first.base_url}/v1/projects",
            json={"name": "Kept between runs", "timezone": "UTC"},
            headers=headers,
        )
        assert created.status_code in (200, 201), created.text
    finally:
        first.stop()
    second = start_demo_sandbox()
    try:
        assert second.app.state.sandbox.demo_key == key
        assert second.port == port  # free again: the old links keep working
        names = [
            p["name"]
            for p in httpx.get(
                f"{second.base_url}/v1/projects", params={"limit": 200}, headers=headers
            ).json()["items"]
        ]
        assert "Kept between runs" in names
    finally:
        second.stop()
    third = start_demo_sandbox(reset=True)
    try:
        assert third.app.state.sandbox.demo_key != key
    finally:
        third.stop()
    assert (tmp_path / "demo" / "sandbox.sqlite").exists()


def test_pending_flows_are_kept_per_host_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERS_STATE_DIR", str(tmp_path))
    live = paths.flows_dir("https://api.layers.com", "live-abc")
    other_key = paths.flows_dir("https://api.layers.com", "test-xyz")
    sandbox = paths.flows_dir("http://127.0.0.1:8787", "live-abc")
    assert len({live, other_key, sandbox}) == 3
    assert all(p.is_relative_to(tmp_path / "flows") for p in (live, other_key, sandbox))
    assert paths.demo_dir() == tmp_path / "demo"
    assert paths.flows_dir("http://127.0.0.1:8787", "test-demo", demo=True) == (
        tmp_path / "demo" / "flows"
    )


def test_standalone_sandbox_never_prints_its_key(tmp_path):
    import os
    import re
    import socket
    import stat
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, LAYERS_STATE_DIR=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "layers_tui", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        key_file = tmp_path / f"sandbox-{port}.key"
        key = key_file.read_text().strip()
        output = "".join(lines)
        assert key not in output
        assert re.search(r"Demo API key lp_test_[A-Za-z0-9]+_… written to", output)
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1/whoami",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=1,
                )
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(10)

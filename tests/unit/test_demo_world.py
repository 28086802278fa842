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

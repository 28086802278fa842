"""`layers-tui sync`, `watch` and `check` through `cli.main`, as cron, a terminal and a
monitoring system run them: the in-process sandbox, and once a real loopback socket."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import httpx
import pytest

from layers_tui import paths
from layers_tui.api import key_id
from layers_tui.cli import main
from layers_tui.clock import DemoClock
from layers_tui.sandbox import SandboxClock, create_app
from layers_tui.session.store import Store
from tests.conftest import BASE
from tests.session.conftest import CountingTransport


@pytest.fixture
def keyed(monkeypatch, api_key):
    monkeypatch.setenv("LAYERS_API_KEY", api_key)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)
    return api_key


def no_traceback(captured) -> None:
    assert "Traceback" not in captured.out + captured.err


def test_sync_fills_the_store_and_check_then_makes_no_list_request(
    keyed, sandbox_app, fake_clock, capsys
):
    assert main(["sync"], transport=CountingTransport(sandbox_app), clock=fake_clock) == 0
    captured = capsys.readouterr()
    no_traceback(captured)
    assert captured.out == ""
    assert "synced 6 project(s), 0 failed" in captured.err.splitlines()[-1]
    transport = CountingTransport(sandbox_app)
    assert main(["check", "--json"], transport=transport, clock=fake_clock) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "CRITICAL" and report["summary"]["staleProjects"] == 0
    assert report["summary"]["critical"] == 8 and len(report["accounts"]) == 24
    assert transport.lists == 0 and dict(transport.paths) == {"/v1/whoami": 1}


def test_check_flags_for_freshness(keyed, sandbox_app, fake_clock, capsys):
    transport = CountingTransport(sandbox_app)
    code = main(
        ["check", "--timeout", "0", "--max-age", "0"], transport=transport, clock=fake_clock
    )
    out = capsys.readouterr().out
    assert code == 3 and "6 of 6 project(s) stale (6 with no data yet)" in out
    assert transport.paths["/v1/projects"] == 1 and transport.lists == 1
    assert main(["check", "--max-age", "soon"]) == 3
    assert capsys.readouterr().out.startswith("LAYERS UNKNOWN - bad arguments: 'soon' is not")
    assert main(["check", "--json", "--timeout", "-5"]) == 3
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "USAGE"


@pytest.mark.parametrize("command", ["sync", "watch"])
def test_no_key_is_one_line(command, capsys):
    assert main([command]) == 2
    captured = capsys.readouterr()
    no_traceback(captured)
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("layers-tui: config error: ") and "no API key" in captured.err


@pytest.mark.parametrize("command", ["sync", "watch"])
def test_a_bad_config_is_one_line(command, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("refresh_interval = [\n")
    assert main([command, "--config", str(config)]) == 2
    captured = capsys.readouterr()
    no_traceback(captured)
    assert captured.err.count("\n") == 1 and str(config) in captured.err


@pytest.mark.parametrize("command", ["sync", "watch"])
def test_a_rejected_key_is_one_line(command, sandbox_app, monkeypatch, capsys):
    monkeypatch.setenv("LAYERS_API_KEY", "lp_test_NOPE0000000000_nopenope")
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)
    assert main([command], transport=CountingTransport(sandbox_app)) == 2
    captured = capsys.readouterr()
    no_traceback(captured)
    assert captured.err.count("\n") == 1 and "UNAUTHENTICATED (401)" in captured.err
    assert "nopenope" not in captured.err


def test_help_says_what_they_do(capsys):
    for command, words in (
        ("sync", "one full pass"),
        ("watch", "one line per account status change"),
        ("check", "Stale rule"),
    ):
        with pytest.raises(SystemExit) as caught:
            main([command, "--help"])
        assert caught.value.code == 0
        assert words in " ".join(capsys.readouterr().out.split())


# -- watch ------------------------------------------------------------------------------------
def _stop_when_refreshed(store: str, since: float, projects: int) -> threading.Thread:
    """SIGINT (ctrl+c) to this process once the store shows `projects` projects refreshed
    after `since` (read through its own connection, as another process would)."""

    def run() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with sqlite3.connect(store) as db:
                    (count,) = db.execute(
                        "SELECT COUNT(*) FROM project_state WHERE refreshed_at >= ?", (since,)
                    ).fetchone()
                if count >= projects:
                    break
            except sqlite3.Error:
                pass
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_watch_logs_a_change_once_and_ctrl_c_exits_0(monkeypatch, capsys):
    sandbox_clock = SandboxClock()  # real time, so our clock and the sandbox's agree
    app = create_app(clock=sandbox_clock, rng_seed=1)
    key = app.state.sandbox.demo_key
    monkeypatch.setenv("LAYERS_API_KEY", key)
    monkeypatch.setenv("LAYERS_BASE_URL", BASE)
    clock = DemoClock()
    assert main(["sync"], transport=CountingTransport(app), clock=clock) == 0
    capsys.readouterr()
    store = paths.store_path(BASE, key_id(key))
    filled = Store.open(store)
    target = next(
        doc["socialAccountId"]
        for record in filled.projects()
        for kind, doc in filled.accounts(record.id)
        if kind == "social" and doc["status"] == "connected" and doc.get("tokenExpiresAt")
    )
    filled.close()

    async def expire() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=BASE,
            headers={"Authorization": f"Bearer {key}"},
        ) as http:
            response = await http.post(f"/sandbox/social-accounts/{target}/expire-token")
            assert response.status_code < 300

    asyncio.run(expire())
    clock.advance(3600)  # the stored data is an hour old: watch's first pass refreshes all
    sandbox_clock.advance(3600)
    _stop_when_refreshed(str(store), clock.now().timestamp(), 6)
    assert main(["watch"], transport=CountingTransport(app), clock=clock) == 0
    captured = capsys.readouterr()
    no_traceback(captured)
    lines = [line for line in captured.out.splitlines() if target in line]
    assert len(lines) == 1 and "connected -> reauth_required (critical)" in lines[0]
    assert "(new)" not in captured.out  # nothing was seen for the first time
    assert captured.err.startswith("layers-tui watch: Demo Agency (standard tier); store ")


def test_watch_on_a_real_socket_stops_cleanly_on_ctrl_c(live_server, tmp_path):
    """A separate process, as a user runs it, against uvicorn on loopback."""
    env = {
        **os.environ,
        "LAYERS_API_KEY": live_server.app.state.sandbox.demo_key,
        "LAYERS_BASE_URL": live_server.base_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "layers_tui", "watch"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([process.stderr], [], [], 30)
        assert ready, "watch printed nothing within 30 s"
        first = process.stderr.readline()
        assert first.startswith("layers-tui watch: Demo Agency (standard tier)")
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in err

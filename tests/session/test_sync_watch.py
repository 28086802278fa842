"""`sync` and `watch` over the in-process sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import io

from layers_tui.clock import SystemClock
from layers_tui.session.inventory import ProgressUpdated
from layers_tui.watch import run_sync, run_watch


async def test_sync_makes_one_full_pass_with_progress(make_session):
    session = make_session()
    err = io.StringIO()
    assert await run_sync(session, err) == 0
    text = err.getvalue()
    assert "refreshed 0 of 6 projects" in text
    assert "synced 6 project(s), 0 failed" in text
    assert len(session.store.projects()) == 6
    assert all(r.refreshed_at for r in session.store.projects())
    assert session.store.lease_holder(10**12 - 1) is None  # released


async def test_sync_leaves_the_key_to_a_running_refresher(make_session, tmp_path):
    path = tmp_path / "shared.sqlite3"
    watcher = make_session(store_path=path)
    assert watcher.inventory.take_lease()
    err = io.StringIO()
    assert await run_sync(make_session(store_path=path), err) == 0
    assert "another layers-tui" in err.getvalue()


async def test_sync_with_a_rejected_key_says_so(make_session, sandbox_app, tmp_path):
    session = make_session()
    session.client.api_key = type(session.client.api_key)("lp_test_NOPE0000000000_nope")
    err = io.StringIO()
    code = await run_sync(session, err)
    assert code == 2 and "UNAUTHENTICATED" in err.getvalue()
    assert "lp_test_NOPE" not in err.getvalue()


async def test_watch_logs_one_line_per_change(make_session, raw, sandbox_app):
    session = make_session()
    session.clock = SystemClock()
    session.inventory.clock = session.clock
    session.budget.clock = session.clock
    out, err = io.StringIO(), io.StringIO()
    first_pass = asyncio.Event()
    session.inventory.listeners.append(
        lambda e: (
            first_pass.set()
            if isinstance(e, ProgressUpdated) and not e.progress.running and e.progress.done
            else None
        )
    )
    task = asyncio.ensure_future(run_watch(session, out, err))
    await asyncio.wait_for(first_pass.wait(), 10)
    out.seek(0)
    out.truncate()
    target = next(
        doc["socialAccountId"]
        for record in session.store.projects()
        for kind, doc in session.store.accounts(record.id)
        if kind == "social" and doc["status"] == "connected" and doc.get("tokenExpiresAt")
    )
    assert (await raw.post(f"/sandbox/social-accounts/{target}/expire-token")).status_code < 300
    session.inventory.request_refresh()
    for _ in range(1000):  # until the line appears (up to 20 s on a loaded machine)
        if target in out.getvalue():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    lines = [line for line in out.getvalue().splitlines() if target in line]
    assert len(lines) == 1 and "connected -> reauth_required (critical)" in lines[0]
    assert "Demo Agency" in err.getvalue()


async def test_watch_dry_run_prints_the_alert_it_would_send(make_session, raw, tmp_path):
    import json
    import sys

    from layers_tui.config import load_settings
    from layers_tui.notify import Notifier

    received = tmp_path / "received.json"
    copy = "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())"
    config = tmp_path / "config.toml"
    config.write_text(
        '[[notify]]\nname = "pager"\nkind = "command"\nmin_duration = "0s"\n'
        f"command = {json.dumps([sys.executable, '-c', copy, str(received)])}\n"
    )
    notifier = Notifier(load_settings({}, {}, config, None).notify)
    session = make_session()
    session.clock = SystemClock()
    session.inventory.clock = session.clock
    session.budget.clock = session.clock
    out, err = io.StringIO(), io.StringIO()
    first_pass = asyncio.Event()
    session.inventory.listeners.append(
        lambda e: (
            first_pass.set()
            if isinstance(e, ProgressUpdated) and not e.progress.running and e.progress.done
            else None
        )
    )
    task = asyncio.ensure_future(run_watch(session, out, err, notifier, dry_run=True))
    await asyncio.wait_for(first_pass.wait(), 10)
    # Healthy by this (real) clock: its severity changes when its token expires.
    [(_, _, target)] = session.store.first_accounts(
        "kind = 'social' AND status = 'connected' AND severity = 1 AND expires_at IS NOT NULL",
        limit=1,
    )
    assert (
        await raw.post(f"/sandbox/social-accounts/{target['socialAccountId']}/expire-token")
    ).status_code < 300
    session.inventory.request_refresh()
    for _ in range(1000):  # until the alert is printed (up to 20 s on a loaded machine)
        if "dry-run:" in out.getvalue():
            break
        await asyncio.sleep(0.02)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    alerts = [line for line in out.getvalue().splitlines() if line.startswith("dry-run:")]
    assert len(alerts) == 1, out.getvalue() + err.getvalue()
    assert alerts[0].startswith("dry-run: would alert pager: ")
    assert f"{target['handle']}: connected -> reauth_required (critical)" in alerts[0]
    assert not received.exists()  # nothing sent
    assert session.store.alert_states("pager") == {}  # nothing recorded

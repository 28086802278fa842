"""Pending flows on disk: round trip, atomicity, quarantine, locking, two writers."""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from layers_tui.flows.model import PendingFlow
from layers_tui.flows.store import FlowStore, StoreError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def flow(flow_id: str, **changes) -> PendingFlow:
    base = PendingFlow(
        id=flow_id,
        kind="reauth",
        project_id="prj_1",
        project_name="Acme",
        platform="tiktok",
        authorize_url="http://localhost/consent/st_X",
        created_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
        updated_at=NOW,
        state=f"st_{flow_id}",
        social_account_id="sa_1",
        next_poll_at=NOW + timedelta(seconds=2),
        ad_baseline=(("A", "valid"),),
    )
    return replace(base, **changes)


def test_round_trip_and_private_mode(tmp_path):
    store = FlowStore(tmp_path / "state")
    store.save([flow("a"), flow("b", status="completed")], NOW)
    loaded = store.load(NOW)
    assert {f.id for f in loaded.flows} == {"a", "b"}
    assert next(f for f in loaded.flows if f.id == "a") == flow("a")
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_newest_update_wins_and_old_finished_flows_are_pruned(tmp_path):
    store = FlowStore(tmp_path)
    store.save([flow("a", attempts=3, updated_at=NOW + timedelta(seconds=5))], NOW)
    store.save([flow("a", attempts=1)], NOW)  # an older copy from another instance
    assert store.load(NOW).flows[0].attempts == 3
    store.save([flow("old", status="completed")], NOW)
    kept = store.save([], NOW + timedelta(hours=25))
    assert [f.id for f in kept] == ["a"]  # pending flows are never pruned


@pytest.mark.parametrize(
    "content", [b"", b"{not json", b'{"schema": 99, "flows": []}', b"[]", b"\xff\xfe"]
)
def test_corrupt_file_is_moved_aside(tmp_path, content):
    store = FlowStore(tmp_path)
    store.path.write_bytes(content)
    result = store.load(NOW)
    assert result.flows == [] and result.quarantined is not None
    assert result.quarantined.read_bytes() == content
    assert result.quarantined.name == "pending.json.corrupt-20261120T120000"
    assert not store.path.exists()


def test_one_bad_record_keeps_the_rest(tmp_path):
    store = FlowStore(tmp_path)
    store.save([flow("a")], NOW)
    text = store.path.read_text().replace('"flows": [', '"flows": [{"id": "broken"},')
    store.path.write_text(text)
    result = store.load(NOW)
    assert [f.id for f in result.flows] == ["a"] and result.skipped == 1
    assert result.quarantined is not None


def test_crash_during_write_keeps_the_old_file(tmp_path, monkeypatch):
    store = FlowStore(tmp_path)
    store.save([flow("a")], NOW)
    before = store.path.read_bytes()

    def boom(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StoreError, match="disk full"):
        store.save([flow("b")], NOW)
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert list(tmp_path.glob(".pending-*.tmp")) == []


def test_orphaned_temp_files_are_removed_on_load(tmp_path):
    store = FlowStore(tmp_path)
    store.save([flow("a")], NOW)
    (tmp_path / ".pending-dead.tmp").write_text("half")
    store.load(NOW)
    assert list(tmp_path.glob(".pending-*.tmp")) == []


def test_writes_fsync_and_replace(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: calls.append("replace") or real_replace(a, b))
    FlowStore(tmp_path).save([flow("a")], NOW)
    assert calls == ["fsync", "replace", "fsync"]


def _hold_lock(directory: str, ready, release) -> None:
    store = FlowStore(Path(directory))
    with store.locked():
        ready.set()
        release.wait(10)


def test_lock_held_elsewhere_times_out_with_a_message(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(str(tmp_path), ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(StoreError, match="another layers-tui holds the lock"):
            FlowStore(tmp_path, lock_timeout=0.2).save([flow("a")], NOW)
    finally:
        release.set()
        holder.join(10)
    FlowStore(tmp_path, lock_timeout=0.2).save([flow("a")], NOW)  # released on exit


def _writer(directory: str, prefix: str, rounds: int) -> None:
    store = FlowStore(Path(directory), lock_timeout=30)
    for number in range(rounds):
        store.save([flow(f"{prefix}{number}")], NOW)


def test_two_processes_never_lose_each_others_flows(tmp_path):
    writers = [
        multiprocessing.Process(target=_writer, args=(str(tmp_path), p, 50)) for p in ("x", "y")
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    ids = {f.id for f in FlowStore(tmp_path).load(NOW).flows}
    assert ids == {f"{p}{n}" for p in ("x", "y") for n in range(50)}

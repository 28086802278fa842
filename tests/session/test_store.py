"""The SQLite store on its own: accounts, history, flows, journal, lease, damage."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from layers_tui.flows.model import PendingFlow
from layers_tui.flows.store import FlowStore
from layers_tui.session.session import FlowRecords, migrate_flow_file, open_store
from layers_tui.session.store import SCHEMA_VERSION, JournalEntry, Store, StoredAccount, StoreError

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def make_flow(flow_id: str) -> PendingFlow:
    return PendingFlow(
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


def account(key: str, status: str = "connected", severity: int = 1) -> StoredAccount:
    return StoredAccount(
        "social",
        key,
        "tiktok",
        f"@{key}",
        status,
        severity,
        None,
        False,
        {"socialAccountId": key, "platform": "tiktok", "handle": key, "status": status},
    )


def test_accounts_round_trip_and_history(tmp_path):
    store = Store.open(tmp_path / "s.sqlite3")
    store.replace_projects([{"id": "p1", "name": "One"}, {"id": "p2", "name": "Two"}], NOW)
    first = store.save_project("p1", [account("a"), account("b")], [], NOW)
    assert {c.account_key for c in first} == {"a", "b"}  # first sight is history too
    later = NOW + timedelta(hours=1)
    changes = store.save_project(
        "p1", [account("a", "reauth_required", 3), account("b")], [], later
    )
    assert [(c.account_key, c.old_status, c.new_status) for c in changes] == [
        ("a", "connected", "reauth_required")
    ]
    assert [doc["handle"] for _, doc in store.accounts("p1")] == ["a", "b"]
    assert store.severity_counts() == {1: 1, 3: 1}
    since = store.severity_since("p1")
    assert since[("social", "a")] == later.timestamp()
    assert [c.new_status for c in store.history(account_key="a")] == [
        "reauth_required",
        "connected",
    ]
    # Nothing changed: no history, but the project's freshness moves.
    assert (
        store.save_project("p1", [account("a", "reauth_required", 3), account("b")], [], later)
        == []
    )
    records = {r.id: r for r in store.projects()}
    assert records["p1"].refreshed_at == later.timestamp()
    assert records["p2"].refreshed_at is None


def test_failed_refresh_keeps_last_good_data(tmp_path):
    store = Store.open(tmp_path / "s.sqlite3")
    store.replace_projects([{"id": "p1"}], NOW)
    store.save_project("p1", [account("a")], [], NOW)
    store.save_project_error(
        "p1", {"code": "UNAVAILABLE", "status": 503}, NOW + timedelta(minutes=5)
    )
    record = store.projects()[0]
    assert record.error == {"code": "UNAVAILABLE", "status": 503}
    assert record.refreshed_at == NOW.timestamp()
    assert record.attempted_at == (NOW + timedelta(minutes=5)).timestamp()
    assert len(store.accounts("p1")) == 1


def test_project_dropped_from_list_loses_accounts_keeps_history(tmp_path):
    store = Store.open(tmp_path / "s.sqlite3")
    store.replace_projects([{"id": "p1"}, {"id": "p2"}], NOW)
    store.save_project("p2", [account("z")], [], NOW)
    store.replace_projects([{"id": "p1"}], NOW)
    assert [r.id for r in store.projects()] == ["p1"]
    assert store.accounts("p2") == []
    assert store.history(account_key="z")


def test_reopen_keeps_everything(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = Store.open(path)
    store.replace_projects([{"id": "p1"}], NOW)
    store.save_project("p1", [account("a")], [], NOW)
    store.journal_add(
        JournalEntry(NOW.timestamp(), "revoke", "acme", "live-k", "h", "p1", "a", {"posts": 2})
    )
    store.close()
    again = Store.open(path)
    assert [doc["handle"] for _, doc in again.accounts("p1")] == ["a"]
    assert again.journal()[0].detail == {"posts": 2}
    assert again.history(account_key="a")
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_corrupt_database_is_moved_aside_and_rebuilt(tmp_path):
    path = tmp_path / "s.sqlite3"
    path.write_bytes(b"this is not a database" * 200)
    store, problem = open_store(path, NOW)
    assert store.persistent
    assert store.moved_aside is not None and store.moved_aside.exists()
    assert "history" in problem and str(store.moved_aside) in problem
    store.replace_projects([{"id": "p1"}], NOW)
    assert [r.id for r in store.projects()] == ["p1"]


def test_newer_schema_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "s.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(StoreError, match="newer layers-tui"):
        Store.open(path)


def test_unusable_directory_falls_back_to_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store, problem = open_store(blocker / "sub" / "s.sqlite3", NOW)
    assert not store.persistent
    assert "running without a local store" in problem
    store.replace_projects([{"id": "p1"}], NOW)  # still works, in memory
    assert store.projects()[0].id == "p1"


def _writer(path: str, count: int) -> None:
    store = Store.open(Path(path))
    for number in range(count):
        store.save_project("p1", [account(f"w{number}")], [], NOW + timedelta(seconds=number))


def test_two_processes_share_one_database(tmp_path):
    path = tmp_path / "s.sqlite3"
    reader = Store.open(path)
    reader.replace_projects([{"id": "p1"}], NOW)
    version = reader.data_version()
    seq = reader.last_seq()
    context = multiprocessing.get_context("spawn")
    worker = context.Process(target=_writer, args=(str(path), 20))
    worker.start()
    # Meanwhile this process writes too: neither blocks the other for good.
    for number in range(20):
        reader.journal_add(
            JournalEntry(NOW.timestamp(), f"a{number}", None, None, None, None, None, {})
        )
    worker.join(30)
    assert worker.exitcode == 0
    assert reader.data_version() != version
    changed = reader.changed_projects(seq)
    assert [r.id for r in changed] == ["p1"]
    assert [doc["handle"] for _, doc in reader.accounts("p1")] == ["w19"]
    assert len(reader.journal()) == 20


def _hold_lease(path: str, ready) -> None:
    store = Store.open(Path(path))
    assert store.try_lease("child", 3600, time.time())
    ready.set()
    time.sleep(60)


def test_lease_is_taken_over_when_its_holder_is_killed(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = Store.open(path)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(target=_hold_lease, args=(str(path), ready))
    child.start()
    assert ready.wait(30)
    assert not store.try_lease("me", 30, time.time())
    assert store.lease_holder(time.time()) == "child"
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    # Same machine: a dead holder's lease is free at once, without waiting for it to expire.
    assert store.lease_holder(time.time()) is None
    assert store.try_lease("me", 30, time.time())
    assert store.lease_holder(time.time()) == "me"


def test_lease_of_another_machine_expires(tmp_path):
    store = Store.open(tmp_path / "s.sqlite3")
    with store.transaction() as db:
        db.execute(
            "INSERT INTO lease (name, holder, host, pid, expires_at) VALUES "
            "('refresh', 'far', 'other-host', 1, ?)",
            (1000.0,),
        )
    assert not store.try_lease("me", 30, 999.0)
    assert store.try_lease("me", 30, 1000.5)


def test_pending_flow_file_is_migrated_once_losing_nothing(tmp_path):
    legacy_dir = tmp_path / "flows"
    flows = [make_flow(f"f{n}") for n in range(3)]
    FlowStore(legacy_dir).save(flows, NOW)
    store = Store.open(tmp_path / "s.sqlite3")
    assert len(migrate_flow_file(store, legacy_dir, NOW).flows) == 3
    loaded = FlowRecords(store).load(NOW)
    assert sorted(f.id for f in loaded.flows) == ["f0", "f1", "f2"]
    assert loaded.flows[0] == next(f for f in flows if f.id == loaded.flows[0].id)
    assert not (legacy_dir / "pending.json").exists()
    assert (legacy_dir / "pending.json.migrated").exists()
    assert migrate_flow_file(store, legacy_dir, NOW).flows == []  # once


def test_flow_records_newest_update_wins(tmp_path):
    store = Store.open(tmp_path / "s.sqlite3")
    records = FlowRecords(store)
    flow = make_flow("f1")
    done = flow.evolve(NOW + timedelta(seconds=30), status="completed")
    records.save([done], NOW)
    records.save([flow], NOW)  # an older copy from another process
    assert records.load(NOW).flows[0].status == "completed"
    raw = json.loads(store._db.execute("SELECT doc FROM flows").fetchone()[0])
    assert raw["status"] == "completed"


def test_a_version_1_store_is_upgraded_keeping_its_data(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = Store.open(path, NOW)
    store.replace_projects([{"id": "p1", "name": "One"}], NOW)
    store.close()
    raw = sqlite3.connect(path)
    raw.execute("DROP INDEX accounts_state")
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()
    store = Store.open(path, NOW)
    try:
        assert [record.id for record in store.projects()] == ["p1"]
        indexes = {row[1] for row in store._db.execute("PRAGMA index_list(accounts)")}
        assert "accounts_state" in indexes
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        store.close()


def test_one_projects_history_is_read_through_its_index(tmp_path):
    store = Store.open(tmp_path / "s.sqlite3", NOW)
    try:
        plan = " ".join(
            str(row[-1])
            for row in store._db.execute(
                "EXPLAIN QUERY PLAN SELECT kind, account_key, MAX(at) FROM history "
                "WHERE project_id = ? GROUP BY kind, account_key",
                ("p1",),
            )
        )
        assert "history_project" in plan
    finally:
        store.close()


def test_the_previews_queries_on_an_empty_store_return_nothing(tmp_path):
    store = Store.open(tmp_path / "state.sqlite3")
    try:
        assert store.account_samples() == []
        assert store.worst_accounts(200) == []
        assert store.severity_counts_by_project() == {}
        assert store.account_count() == 0
    finally:
        store.close()


def test_save_numbers_never_go_back_when_a_listing_drops_projects(tmp_path):
    """A follower reads the saves numbered above the last it saw: a relist that dropped
    the projects holding the highest numbers (every id new, as after restarting an
    in-memory sandbox) must not number the next saves from below them, or the follower
    never sees them (a dashboard stayed on the old projects' errors)."""
    store = Store.open(tmp_path / "s.sqlite3")
    old = [{"id": f"old{n}", "name": f"Old {n}"} for n in range(3)]
    store.replace_projects(old, NOW)
    for doc in old:
        store.save_project(doc["id"], [account(f"a_{doc['id']}")], [], NOW)
    seen = store.last_seq()
    marks = store.metrics_marks()
    store.replace_projects([{"id": "new0", "name": "New 0"}], NOW)
    assert store.last_seq() == seen  # nothing saved since: nothing new to read
    store.save_project("new0", [account("a_new0")], [], NOW)
    assert [record.id for record in store.changed_projects(seen)] == ["new0"]
    assert store.last_seq() > seen and store.metrics_marks() != marks
    store.close()

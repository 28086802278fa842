"""The pending-flow store never dies and never lies: every file-system failure is a StoreError
naming the path, links planted at the lock or quarantine names are not followed, and a bad
record is skipped (and kept aside) instead of sinking the file."""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from datetime import UTC, datetime, timedelta

import pytest

from layers_tui.flows.model import PendingFlow
from layers_tui.flows.store import FlowStore, StoreError

from .test_store import NOW, flow

QUARANTINE = "pending.json.corrupt-20261120T120000"


def raising(err: int, *, when=lambda *args, **kwargs: True, real=None):
    """A stand-in for an os function that fails with `err` when `when(*args)` holds."""

    def fake(*args, **kwargs):
        if when(*args, **kwargs):
            raise OSError(err, os.strerror(err))
        return real(*args, **kwargs)

    return fake


def write_records(store: FlowStore, records: list) -> bytes:
    data = json.dumps({"schema": 1, "flows": records}).encode()
    store.directory.mkdir(parents=True, exist_ok=True)
    store.path.write_bytes(data)
    return data


# -- every OSError becomes a StoreError with the path ---------------------------------------------
def test_folder_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    store = FlowStore(tmp_path / "file" / "state")
    with pytest.raises(StoreError) as caught:
        store.load(NOW)
    assert str(caught.value).startswith(str(tmp_path / "file" / "state"))
    assert "a folder on the way is a file" in str(caught.value)


def test_folder_name_taken_by_a_file(tmp_path):
    (tmp_path / "state").write_text("")
    with pytest.raises(StoreError, match="a file has its name"):
        FlowStore(tmp_path / "state").save([flow("a")], NOW)


def test_read_only_folder_on_mkdir(tmp_path, monkeypatch):
    real = os.mkdir
    monkeypatch.setattr(os, "mkdir", raising(errno.EROFS, real=real))
    with pytest.raises(StoreError, match="cannot create the folder \\(read-only file system\\)"):
        FlowStore(tmp_path / "state").load(NOW)


def test_read_only_folder_on_save(tmp_path, monkeypatch):
    store = FlowStore(tmp_path)
    store.save([flow("a")], NOW)
    before = store.path.read_bytes()
    monkeypatch.setattr(tempfile, "mkstemp", raising(errno.EACCES))
    with pytest.raises(StoreError) as caught:
        store.save([flow("b")], NOW)
    assert caught.value.path == store.path
    assert "cannot save pending flows (permission denied)" in str(caught.value)
    monkeypatch.undo()
    assert store.path.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_really_read_only_folder(tmp_path):  # pragma: no cover - runs for non-root users
    store = FlowStore(tmp_path)
    store.save([flow("a")], NOW)
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="permission denied"):
            store.save([flow("b")], NOW)
    finally:
        tmp_path.chmod(0o700)


def test_lock_path_that_is_a_directory(tmp_path):
    store = FlowStore(tmp_path)
    store.lock_path.mkdir()
    with pytest.raises(StoreError) as caught:
        store.save([flow("a")], NOW)
    assert caught.value.path == store.lock_path
    assert "cannot open the lock file (it is a directory)" in str(caught.value)


def test_lock_path_that_cannot_be_opened(tmp_path, monkeypatch):
    store = FlowStore(tmp_path)
    real = os.open
    monkeypatch.setattr(
        os, "open", raising(errno.EACCES, when=lambda p, *a: p == store.lock_path, real=real)
    )
    with pytest.raises(StoreError, match="pending.lock: cannot open the lock file \\(permission"):
        store.load(NOW)


def test_lock_path_that_is_a_fifo(tmp_path):
    store = FlowStore(tmp_path)
    os.mkfifo(store.lock_path)
    with pytest.raises(StoreError, match="the lock file is not a regular file"):
        store.load(NOW)


def test_file_system_that_cannot_lock(tmp_path, monkeypatch):
    import fcntl

    monkeypatch.setattr(fcntl, "flock", raising(errno.ENOLCK))
    with pytest.raises(StoreError, match="the file system cannot lock files"):
        FlowStore(tmp_path).load(NOW)


def test_unreadable_file_is_reported_and_left_alone(tmp_path, monkeypatch):
    store = FlowStore(tmp_path)
    store.save([flow("a")], NOW)
    before = store.path.read_bytes()
    real = os.open
    monkeypatch.setattr(
        os, "open", raising(errno.EACCES, when=lambda p, *a: p == store.path, real=real)
    )
    with pytest.raises(StoreError, match="pending.json: cannot read \\(permission denied\\)"):
        store.load(NOW)
    with pytest.raises(StoreError, match="cannot read"):  # a save never overwrites it either
        store.save([flow("b")], NOW)
    monkeypatch.undo()
    assert store.path.read_bytes() == before


@pytest.mark.parametrize("err", [errno.EIO, errno.EACCES])
def test_directory_fsync_failure_says_the_file_was_written(tmp_path, monkeypatch, err):
    store = FlowStore(tmp_path)
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(err, os.strerror(err))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(StoreError) as caught:
        store.save([flow("a")], NOW)
    assert caught.value.path == tmp_path
    assert "pending flows were written but the folder could not be flushed" in str(caught.value)
    monkeypatch.undo()
    assert [f.id for f in store.load(NOW).flows] == ["a"]


def test_directory_fsync_the_file_system_does_not_support_is_no_error(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert [f.id for f in FlowStore(tmp_path).save([flow("a")], NOW)] == ["a"]


def test_quarantine_copy_that_cannot_be_written(tmp_path, monkeypatch):
    store = FlowStore(tmp_path)
    before = write_records(store, [flow("a").to_json(), {"id": ["x"]}])
    real = os.open
    monkeypatch.setattr(
        os, "open", raising(errno.ENOSPC, when=lambda p, *a: "corrupt" in str(p), real=real)
    )
    with pytest.raises(StoreError) as caught:
        store.load(NOW)
    assert caught.value.path == store.path
    assert f"no copy could be kept at {QUARANTINE} (disk full)" in str(caught.value)
    with pytest.raises(StoreError):  # and a save does not drop the bad record silently
        store.save([flow("b")], NOW)
    monkeypatch.undo()
    assert store.path.read_bytes() == before


def test_partial_quarantine_copy_is_removed(tmp_path, monkeypatch):
    store = FlowStore(tmp_path)
    write_records(store, [{"id": 1}])
    real_write = os.write
    calls = []

    def write(fd, data):
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, bytes(data)[:10])

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(StoreError, match="disk full"):
        store.load(NOW)
    monkeypatch.undo()
    assert not (tmp_path / QUARANTINE).exists()


def test_corrupt_file_that_cannot_be_moved_aside(tmp_path, monkeypatch):
    store = FlowStore(tmp_path)
    store.path.write_bytes(b"{not json")
    monkeypatch.setattr(os, "rename", raising(errno.EROFS))
    with pytest.raises(StoreError, match="cannot be moved aside \\(read-only file system\\)"):
        store.load(NOW)
    monkeypatch.undo()
    assert store.path.read_bytes() == b"{not json"


# -- symbolic links are never followed -----------------------------------------------------------
def test_symlink_at_the_lock_path_is_not_followed(tmp_path):
    store = FlowStore(tmp_path / "state")
    store.directory.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    victim.chmod(0o644)
    store.lock_path.symlink_to(victim)
    with pytest.raises(StoreError, match="pending.lock: cannot open the lock file \\(it is a sym"):
        store.save([flow("a")], NOW)
    assert victim.read_bytes() == b"precious"
    assert oct(victim.stat().st_mode & 0o777) == oct(0o644)


def test_dangling_symlink_at_the_lock_path_creates_nothing(tmp_path):
    store = FlowStore(tmp_path / "state")
    store.directory.mkdir()
    target = tmp_path / "planted"
    store.lock_path.symlink_to(target)
    with pytest.raises(StoreError, match="symbolic link"):
        store.load(NOW)
    assert not os.path.lexists(target)


def test_symlink_at_the_quarantine_copy_is_not_followed(tmp_path):
    store = FlowStore(tmp_path)
    write_records(store, [flow("a").to_json(), {"id": "broken"}])
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    dangling = tmp_path / "nothing-here"
    (tmp_path / QUARANTINE).symlink_to(victim)
    (tmp_path / f"{QUARANTINE}-2").symlink_to(dangling)
    result = store.load(NOW)
    assert result.quarantined == tmp_path / f"{QUARANTINE}-3"
    assert b'"broken"' in result.quarantined.read_bytes()
    assert victim.read_bytes() == b"precious"
    assert not os.path.lexists(dangling)
    assert (tmp_path / QUARANTINE).is_symlink()


def test_symlink_at_the_quarantine_move_is_not_followed(tmp_path):
    store = FlowStore(tmp_path)
    store.path.write_bytes(b"{not json")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / QUARANTINE).symlink_to(victim)
    result = store.load(NOW)
    assert result.quarantined == tmp_path / f"{QUARANTINE}-2"
    assert result.quarantined.read_bytes() == b"{not json"
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / QUARANTINE).is_symlink()


def test_earlier_quarantine_copies_are_never_overwritten(tmp_path):
    store = FlowStore(tmp_path)
    store.path.write_bytes(b"first")
    store.load(NOW)
    store.path.write_bytes(b"second")
    second = store.load(NOW).quarantined
    assert (tmp_path / QUARANTINE).read_bytes() == b"first"
    assert second is not None and second.read_bytes() == b"second"


def test_symlink_at_the_data_file_is_moved_aside_not_read(tmp_path):
    store = FlowStore(tmp_path / "state")
    store.directory.mkdir()
    victim = tmp_path / "victim.json"
    victim.write_text(json.dumps({"schema": 1, "flows": [flow("a").to_json()]}))
    store.path.symlink_to(victim)
    result = store.load(NOW)
    assert result.flows == [] and result.quarantined is not None
    assert result.quarantined.is_symlink()
    store.save([flow("b")], NOW)
    assert json.loads(victim.read_text())["flows"][0]["id"] == "a"  # untouched


# -- bad records and bad files -------------------------------------------------------------------
def good() -> dict:
    return flow("good").to_json()


BAD_RECORDS = {
    "id is a list": {**good(), "id": ["a", "b"]},
    "id is a dict": {**good(), "id": {"x": 1}},
    "id is a number": {**good(), "id": 7},
    "id is empty": {**good(), "id": ""},
    "project name is null": {**good(), "project_name": None},
    "naive timestamp": {**good(), "created_at": "2026-11-20T12:00:00"},
    "naive optional timestamp": {**good(), "next_poll_at": "2026-11-20T12:00:02"},
    "timestamp is a number": {**good(), "updated_at": 1_795_000_000},
    "timestamp does not parse": {**good(), "expires_at": "tomorrow"},
    "missing field": {k: v for k, v in good().items() if k != "expires_at"},
    "wrong status": {**good(), "status": "done"},
    "status is a list": {**good(), "status": ["pending"]},
    "unknown kind": {**good(), "kind": "mystery"},
    "attempts is text": {**good(), "attempts": "3"},
    "attempts is a float": {**good(), "attempts": 2.5},
    "attempts is a bool": {**good(), "attempts": True},
    "attempts is negative": {**good(), "attempts": -1},
    "state is a number": {**good(), "state": 12},
    "baseline of strings": {**good(), "ad_baseline": ["AB"]},
    "baseline not a list": {**good(), "ad_baseline": {"A": "valid"}},
    "baseline pair of numbers": {**good(), "ad_baseline": [[1, 2]]},
    "not a dict": ["id", "good"],
    "a string": "good",
    "null": None,
}


@pytest.mark.parametrize("record", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_from_json_refuses_a_bad_record_with_value_error(record):
    with pytest.raises(ValueError):
        PendingFlow.from_json(record)


@pytest.mark.parametrize("record", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_load_keeps_the_good_records_and_a_copy_of_the_file(tmp_path, record):
    store = FlowStore(tmp_path)
    data = write_records(store, [flow("a").to_json(), record, flow("b").to_json()])
    result = store.load(NOW)
    assert [f.id for f in result.flows] == ["a", "b"]
    assert result.skipped == 1
    assert result.quarantined == tmp_path / QUARANTINE
    assert result.quarantined.read_bytes() == data
    assert store.path.read_bytes() == data  # load alone rewrites nothing


def test_every_field_survives_the_round_trip():
    full = flow(
        "full",
        status="failed",
        code="denied",
        message="no",
        result_account_id="sa_2",
        result_label="@acme",
        attempts=4,
        failures=2,
        last_result="pending",
        last_polled_at=NOW + timedelta(seconds=9),
        request_id="req_1",
        account_label="Acme TikTok",
        timezone="Europe/Berlin",
    )
    assert PendingFlow.from_json(json.loads(json.dumps(full.to_json()))) == full


def test_other_utc_offsets_and_unknown_fields_are_accepted():
    record = {**good(), "created_at": "2026-11-20T13:00:00+01:00", "added_later": [1]}
    parsed = PendingFlow.from_json(record)
    assert parsed.created_at == NOW and parsed.created_at.tzinfo is not None


def test_old_records_without_optional_fields_still_load():
    required = ("id", "kind", "project_id", "project_name", "platform", "authorize_url")
    record = {name: good()[name] for name in required}
    record |= {name: NOW.isoformat() for name in ("created_at", "expires_at", "updated_at")}
    parsed = PendingFlow.from_json(record)
    assert parsed.status == "pending" and parsed.attempts == 0 and parsed.ad_baseline == ()


def test_a_naive_record_can_no_longer_crash_the_merge(tmp_path):
    """Before: a naive updated_at loaded fine, then `>=` against an aware time raised
    TypeError out of save()."""
    store = FlowStore(tmp_path)
    write_records(store, [{**flow("a").to_json(), "updated_at": "2026-11-20T12:00:00"}])
    kept = store.save([flow("a", attempts=2)], NOW)
    assert [(f.id, f.attempts) for f in kept] == [("a", 2)]


@pytest.mark.parametrize(
    "content",
    [b"not json at all", b"[" * 100_000, b'{"schema": 1, "flows": {}}', b'"flows"'],
    ids=["not json", "nested too deep", "flows not a list", "a string"],
)
def test_whole_file_not_usable_is_moved_aside(tmp_path, content):
    store = FlowStore(tmp_path)
    store.path.write_bytes(content)
    result = store.load(NOW)
    assert result.flows == [] and result.quarantined == tmp_path / QUARANTINE
    assert result.quarantined.read_bytes() == content
    assert [f.id for f in store.save([flow("a")], NOW)] == ["a"]


def test_data_file_that_is_a_directory_is_moved_aside(tmp_path):
    store = FlowStore(tmp_path)
    store.path.mkdir()
    (store.path / "inside").write_text("kept")
    result = store.load(NOW)
    assert result.flows == [] and result.quarantined == tmp_path / QUARANTINE
    assert (result.quarantined / "inside").read_text() == "kept"
    assert [f.id for f in store.save([flow("a")], NOW)] == ["a"]
    assert store.path.is_file()


def test_data_file_that_is_a_fifo_does_not_hang(tmp_path):
    store = FlowStore(tmp_path)
    os.mkfifo(store.path)
    result = store.load(NOW)
    assert result.flows == [] and result.quarantined == tmp_path / QUARANTINE


def test_loaded_times_are_aware():
    parsed = PendingFlow.from_json(good())
    assert all(
        moment.tzinfo is not None
        for moment in (parsed.created_at, parsed.expires_at, parsed.updated_at)
    )
    assert parsed.created_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

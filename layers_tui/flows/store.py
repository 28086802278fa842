"""Pending flows on disk: atomic writes, a lock file shared by instances, corrupt-file quarantine.

Every save is a read-merge-write under an exclusive lock on a separate `.lock` file, merging by
flow id (newest `updated_at` wins), so two running instances never lose each other's flows.

Every failure of the file system reaches the caller as a `StoreError` naming the path and the
reason in plain words, never as an `OSError`. The lock file and quarantine copies are opened
without following symbolic links, so a link planted at either name is refused, not written
through.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from .model import PendingFlow

SCHEMA = 1
KEEP_FINISHED = timedelta(hours=24)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class StoreError(Exception):
    """A problem with the pending-flow file, told with its path and a plain reason."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # absent on Windows, where links need privileges
NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted at a path must not hang the open
# A directory fsync the file system does not support is no failure: nothing more can be done.
UNSUPPORTED = {
    getattr(errno, name)
    for name in ("EINVAL", "ENOTSUP", "EOPNOTSUPP", "EBADF")
    if hasattr(errno, name)
}
MAX_QUARANTINE_NAMES = 100

_REASONS = {
    getattr(errno, name): words
    for name, words in (
        ("EACCES", "permission denied"),
        ("EPERM", "operation not permitted"),
        ("EROFS", "read-only file system"),
        ("ENOSPC", "disk full"),
        ("EDQUOT", "disk quota exceeded"),
        ("ELOOP", "it is a symbolic link, which is not followed"),
        ("EISDIR", "it is a directory"),
        ("ENOTDIR", "a folder on the way is a file"),
        ("ENOENT", "it does not exist"),
        ("EEXIST", "something else is already there"),
        ("ENOLCK", "the file system cannot lock files"),
        ("EIO", "input/output error"),
    )
    if hasattr(errno, name)  # errno names differ between systems
}


def reason_of(error: OSError) -> str:
    """Plain words for an OSError, without the path (the message puts it first)."""
    if error.errno in _REASONS:
        return _REASONS[error.errno]
    return (error.strerror or type(error).__name__).lower()


@dataclass
class LoadResult:
    flows: list[PendingFlow] = field(default_factory=list)
    quarantined: Path | None = None
    skipped: int = 0  # records that could not be read (kept aside in the quarantine copy)


class FlowStore:
    def __init__(self, directory: Path, lock_timeout: float = 5.0) -> None:
        self.directory = directory
        self.path = directory / "pending.json"
        self.lock_path = directory / "pending.lock"
        self.lock_timeout = lock_timeout

    # -- locking -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except FileExistsError:
            raise StoreError(
                self.directory, "cannot create the folder: a file has its name"
            ) from None
        except OSError as error:
            raise StoreError(
                self.directory, f"cannot create the folder ({reason_of(error)})"
            ) from None
        handle = self._open_lock()
        try:
            if fcntl is not None:
                self._flock(handle)
            yield
        finally:
            os.close(handle)  # closing releases the flock

    def _open_lock(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | NOFOLLOW | NONBLOCK
        try:
            handle = os.open(self.lock_path, flags, 0o600)
        except OSError as error:
            raise StoreError(
                self.lock_path, f"cannot open the lock file ({reason_of(error)})"
            ) from None
        try:
            is_file = stat.S_ISREG(os.fstat(handle).st_mode)
        except OSError:
            is_file = False
        if not is_file:
            os.close(handle)
            raise StoreError(self.lock_path, "the lock file is not a regular file")
        return handle

    def _flock(self, handle: int) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(
                        self.lock_path,
                        "another layers-tui holds the lock; pending flows are not being saved",
                    ) from None
                time.sleep(0.02)
            except OSError as error:
                raise StoreError(
                    self.lock_path, f"cannot lock the lock file ({reason_of(error)})"
                ) from None

    # -- reading -------------------------------------------------------------------------------
    def load(self, now: datetime) -> LoadResult:
        with self.locked():
            self._remove_orphans()
            return self._read(now)

    def _read(self, now: datetime) -> LoadResult:
        raw = self._read_bytes()
        if raw is None:
            return LoadResult()
        if isinstance(raw, _NotAFile):
            return LoadResult(quarantined=self._move_aside(now))
        try:
            document = json.loads(raw)
            if (
                not isinstance(document, dict)
                or document.get("schema") != SCHEMA
                or not isinstance(document.get("flows"), list)
            ):
                raise ValueError("unknown layout or schema")
        except (ValueError, UnicodeDecodeError, RecursionError):
            return LoadResult(quarantined=self._move_aside(now))
        flows: list[PendingFlow] = []
        skipped = 0
        for record in document["flows"]:
            try:
                flows.append(PendingFlow.from_json(record))
            except ValueError:
                skipped += 1
        quarantined = self._copy_aside(raw, now) if skipped else None
        return LoadResult(flows=flows, quarantined=quarantined, skipped=skipped)

    def _read_bytes(self) -> bytes | _NotAFile | None:
        """The file's bytes; None when there is no file; _NotAFile when something other than a
        regular file sits at its name (a folder, a symbolic link, a FIFO)."""
        try:
            handle = os.open(self.path, os.O_RDONLY | NOFOLLOW | NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                return _NotAFile()
            raise StoreError(self.path, f"cannot read ({reason_of(error)})") from None
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                return _NotAFile()
            chunks = []
            while chunk := os.read(handle, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as error:
            raise StoreError(self.path, f"cannot read ({reason_of(error)})") from None
        finally:
            os.close(handle)

    def _quarantine_names(self, now: datetime) -> Iterator[Path]:
        stem = f"{self.path.name}.corrupt-{now:%Y%m%dT%H%M%S}"
        yield self.path.with_name(stem)
        for number in range(2, MAX_QUARANTINE_NAMES + 1):
            yield self.path.with_name(f"{stem}-{number}")

    def _move_aside(self, now: datetime) -> Path:
        """Rename the unreadable file to a free quarantine name (a rename moves a symbolic link
        itself, never what it points at)."""
        for target in self._quarantine_names(now):
            if os.path.lexists(target):
                continue  # an earlier copy, or something planted: never replaced
            try:
                os.rename(self.path, target)
            except OSError as error:
                raise StoreError(
                    self.path,
                    f"unreadable, and it cannot be moved aside ({reason_of(error)}); "
                    "it is left as it is and pending flows are not saved",
                ) from None
            return target
        raise StoreError(self.path, "unreadable, and every quarantine name is taken")

    def _copy_aside(self, raw: bytes, now: datetime) -> Path:
        """Keep the bytes of a file with bad records before a save drops those records."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW
        for target in self._quarantine_names(now):
            try:
                handle = os.open(target, flags, 0o600)
            except FileExistsError:
                continue  # an earlier copy, or a planted link: O_EXCL never opens through it
            except OSError as error:
                raise self._copy_failed(target, error) from None
            try:
                view = memoryview(raw)
                while view:
                    view = view[os.write(handle, view) :]
                os.fsync(handle)
            except OSError as error:
                os.close(handle)
                with contextlib.suppress(OSError):
                    os.unlink(target)
                raise self._copy_failed(target, error) from None
            os.close(handle)
            return target
        raise StoreError(self.path, "has unreadable records, and every quarantine name is taken")

    def _copy_failed(self, target: Path, error: OSError) -> StoreError:
        return StoreError(
            self.path,
            f"has unreadable records and no copy could be kept at {target.name} "
            f"({reason_of(error)}); the file is left as it is and pending flows are not saved",
        )

    def _remove_orphans(self) -> None:
        """Temp files left by a write that died before its rename."""
        with contextlib.suppress(OSError):
            for orphan in self.directory.glob(".pending-*.tmp"):
                with contextlib.suppress(OSError):
                    orphan.unlink()

    # -- writing -------------------------------------------------------------------------------
    def save(self, flows: Iterable[PendingFlow], now: datetime) -> list[PendingFlow]:
        """Merge `flows` into the file and return the merged set (other instances' too)."""
        with self.locked():
            on_disk = {flow.id: flow for flow in self._read(now).flows}
            for flow in flows:
                current = on_disk.get(flow.id)
                if current is None or flow.updated_at >= current.updated_at:
                    on_disk[flow.id] = flow
            kept = [
                flow
                for flow in on_disk.values()
                if not flow.terminal or now - flow.updated_at < KEEP_FINISHED
            ]
            self._write_atomic({"schema": SCHEMA, "flows": [f.to_json() for f in kept]})
            return kept

    def _write_atomic(self, document: dict) -> None:
        data = json.dumps(document, indent=1).encode()
        try:
            descriptor, temp_name = tempfile.mkstemp(
                prefix=".pending-", suffix=".tmp", dir=self.directory
            )
        except OSError as error:
            raise self._save_failed(error) from None
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise self._save_failed(error) from None
        self._sync_directory()

    def _save_failed(self, error: OSError) -> StoreError:
        return StoreError(
            self.path,
            f"cannot save pending flows ({reason_of(error)}); they are kept in memory and "
            "saved again on the next change",
        )

    def _sync_directory(self) -> None:
        """Make the rename durable. The new file is in place already, so a failure says that."""
        try:
            directory = os.open(self.directory, os.O_RDONLY)
        except OSError as error:
            if error.errno in UNSUPPORTED:
                return
            raise self._sync_failed(error) from None
        try:
            os.fsync(directory)
        except OSError as error:
            if error.errno not in UNSUPPORTED:
                raise self._sync_failed(error) from None
        finally:
            os.close(directory)

    def _sync_failed(self, error: OSError) -> StoreError:
        return StoreError(
            self.directory,
            f"pending flows were written but the folder could not be flushed to disk "
            f"({reason_of(error)}); a power cut could lose the last change",
        )


class _NotAFile:
    """Marks a path taken by something other than a regular file."""

"""Pending flows on disk: atomic writes, a lock file shared by instances, corrupt-file quarantine.

Every save is a read-merge-write under an exclusive lock on a separate `.lock` file, merging by
flow id (newest `updated_at` wins), so two running instances never lose each other's flows.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
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
    """A problem with the pending-flow file, told with its path."""


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
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                deadline = time.monotonic() + self.lock_timeout
                while True:
                    try:
                        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise StoreError(
                                f"{self.lock_path}: another layers-tui holds the "
                                "lock; pending flows are not being saved"
                            ) from None
                        time.sleep(0.02)
            yield
        finally:
            os.close(handle)  # closing releases the flock

    # -- reading -------------------------------------------------------------------------------
    def load(self, now: datetime) -> LoadResult:
        with self.locked():
            self._remove_orphans()
            return self._read(now)

    def _read(self, now: datetime) -> LoadResult:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return LoadResult()
        except OSError as error:
            raise StoreError(f"{self.path}: cannot read ({error.strerror})") from None
        try:
            document = json.loads(raw)
            if (
                not isinstance(document, dict)
                or document.get("schema") != SCHEMA
                or not isinstance(document.get("flows"), list)
            ):
                raise ValueError("unknown layout or schema")
        except (ValueError, UnicodeDecodeError):
            return LoadResult(quarantined=self._quarantine(now))
        flows: list[PendingFlow] = []
        skipped = 0
        for record in document["flows"]:
            try:
                flows.append(PendingFlow.from_json(record))
            except (KeyError, TypeError, ValueError):
                skipped += 1
        quarantined = self._quarantine(now, copy=True) if skipped else None
        return LoadResult(flows=flows, quarantined=quarantined, skipped=skipped)

    def _quarantine(self, now: datetime, copy: bool = False) -> Path:
        target = self.path.with_name(f"{self.path.name}.corrupt-{now:%Y%m%dT%H%M%S}")
        if copy:
            target.write_bytes(self.path.read_bytes())
        else:
            os.replace(self.path, target)
        return target

    def _remove_orphans(self) -> None:
        """Temp files left by a write that died before its rename."""
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
        descriptor, temp_name = tempfile.mkstemp(
            prefix=".pending-", suffix=".tmp", dir=self.directory
        )
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            reason = "disk full" if error.errno == errno.ENOSPC else error.strerror
            raise StoreError(
                f"{self.path}: cannot save pending flows ({reason}); they are "
                "kept in memory and saved again on the next change"
            ) from None
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

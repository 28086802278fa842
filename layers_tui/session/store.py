"""The local store: one SQLite database (stdlib sqlite3, WAL) per API host and key.

It holds the organisation as last seen (projects and accounts exactly as the API sent them),
each project's freshness and last error, the history of every status or severity change,
pending flows, the operator's action journal and the refresh lease that lets several
processes share one key without exceeding its budget. No Textual, no HTTP: callers hand it
plain values. The interface is deliberately narrow (see docs/scaling.md) so that another
backend could stand behind it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("layers_tui.store")

SCHEMA_VERSION = 5
REFRESH_LEASE = "refresh"
LARGEST_STATE = ("social", "connected")  # see Store.state_counts
BUSY_TIMEOUT_MS = 5000

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    doc TEXT NOT NULL,
    listed_at REAL NOT NULL
);
CREATE TABLE project_state (
    project_id TEXT PRIMARY KEY,
    refreshed_at REAL,
    attempted_at REAL,
    error TEXT,
    invalid TEXT,
    seq INTEGER NOT NULL
);
CREATE INDEX project_state_seq ON project_state (seq);
CREATE TABLE accounts (
    project_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    platform TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    severity INTEGER NOT NULL,
    expires_at REAL,
    leased INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (project_id, kind, key)
);
CREATE INDEX accounts_severity ON accounts (severity);
CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    project_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    account_key TEXT NOT NULL,
    platform TEXT NOT NULL,
    name TEXT NOT NULL,
    old_status TEXT,
    new_status TEXT,
    old_severity INTEGER,
    new_severity INTEGER
);
CREATE INDEX history_account ON history (account_key, at);
CREATE INDEX history_at ON history (at);
CREATE TABLE flows (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    updated_at REAL NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    action TEXT NOT NULL,
    profile TEXT,
    key_id TEXT,
    host TEXT,
    project_id TEXT,
    account_id TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX journal_at ON journal (at);
CREATE TABLE lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE refresh_requests (project_id TEXT PRIMARY KEY, at REAL NOT NULL);
"""

# Each entry upgrades the schema by one version: MIGRATIONS[n] takes version n to n + 1.
MIGRATIONS: dict[int, str] = {
    0: _SCHEMA_V1,
    # check and metrics count by state: a covering index reads no account documents.
    1: "CREATE INDEX accounts_state ON accounts "
    "(kind, status, expires_at, project_id, platform, severity);",
    # watch's alerts: the last state each notify target was told about, per subject (an
    # account "kind:key", or "data" for freshness), so a restart never repeats an alert.
    2: "CREATE TABLE IF NOT EXISTS alert_state (target TEXT NOT NULL, subject TEXT NOT NULL, "
    "state TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (target, subject));",
    # the dashboard's "since" reads one project's history: without this it scans the table.
    3: "CREATE INDEX IF NOT EXISTS history_project ON history (project_id, kind, account_key, at);",
    # The dashboard's first screen of a large store: each project's counts, and an account
    # of each state, read from indexes (a scan of the accounts cost ~200 ms at 42,000).
    4: "CREATE INDEX IF NOT EXISTS accounts_project_severity ON accounts (project_id, severity);"
    "CREATE INDEX IF NOT EXISTS accounts_label ON accounts "
    "(kind, status, severity, leased, expires_at);",
}


# The last save number ever given: project_state's highest, or (when a listing dropped the
# projects that held it) the one kept in meta. Save numbers never go back, so a follower that
# has seen up to N never misses a save numbered again from below N.
_LAST_SEQ = (
    "MAX(COALESCE((SELECT MAX(seq) FROM project_state), 0), "
    "COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'seq_floor'), 0))"
)


class StoreError(Exception):
    """A problem with the local store, told with its path (never with a secret)."""


@dataclass(frozen=True)
class StoredAccount:
    """One account as the inventory decided it, ready to be written."""

    kind: str  # social | ad
    key: str
    platform: str
    name: str
    status: str
    severity: int
    expires_at: float | None
    leased: bool
    doc: dict[str, Any]


@dataclass(frozen=True)
class ProjectRecord:
    id: str
    doc: dict[str, Any]
    refreshed_at: float | None
    attempted_at: float | None
    error: dict[str, Any] | None
    invalid: list[dict[str, Any]]
    seq: int


@dataclass(frozen=True)
class Change:
    """One history entry: an account's status or severity moved."""

    at: float
    project_id: str
    kind: str
    account_key: str
    platform: str
    name: str
    old_status: str | None
    new_status: str | None
    old_severity: int | None
    new_severity: int | None


@dataclass(frozen=True)
class JournalEntry:
    at: float
    action: str
    profile: str | None
    key_id: str | None
    host: str | None
    project_id: str | None
    account_id: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Totals:
    """Counts by severity (ints from domain.status.Severity) over a selection."""

    by_severity: dict[int, int]
    projects: int


def epoch(moment: datetime | None) -> float | None:
    """Seconds since the epoch, as the store keeps times."""
    return None if moment is None else moment.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """SQLite-backed state. Open with `Store.open(path)`; `Store.memory()` keeps nothing."""

    def __init__(self, connection: sqlite3.Connection, path: Path | None) -> None:
        self._db = connection
        self.path = path
        self.persistent = path is not None
        self.moved_aside: Path | None = None

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, now: datetime | None = None) -> Store:
        """Open (creating or migrating) the database at `path`. A file that is not a usable
        database is moved aside and a new one is built; an unusable location is a
        StoreError."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise StoreError(f"Cannot create {path.parent}: {error.strerror or error}") from None
        moved: Path | None = None
        try:
            store = cls._connect(path)
        except sqlite3.DatabaseError as error:
            if isinstance(error, sqlite3.OperationalError) and not path.exists():
                raise StoreError(f"Cannot open {path}: {error}") from None
            moved = cls._move_aside(path, now or datetime.now(UTC))
            log.warning("store %s unusable (%s); moved aside to %s", path, error, moved)
            try:
                store = cls._connect(path)
            except sqlite3.DatabaseError as again:
                raise StoreError(f"Cannot open {path}: {again}") from None
        store.moved_aside = moved
        return store

    @classmethod
    def memory(cls) -> Store:
        connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        store = cls(connection, None)
        store._migrate()
        return store

    @classmethod
    def _connect(cls, path: Path) -> Store:
        connection = sqlite3.connect(
            path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        try:
            with contextlib.suppress(OSError):
                os.chmod(path, 0o600)
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.OperationalError(f"WAL mode not available ({mode})")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = OFF")
            store = cls(connection, path)
            store._migrate()
            store._check_readable()
        except BaseException:
            connection.close()
            raise
        return store

    @staticmethod
    def _move_aside(path: Path, now: datetime) -> Path:
        target = path.with_name(f"{path.name}.corrupt-{now:%Y%m%dT%H%M%S}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{path}{suffix}")
            if source.exists():
                try:
                    os.replace(source, Path(f"{target}{suffix}"))
                except OSError as error:
                    raise StoreError(f"Cannot move {source} aside: {error.strerror}") from None
        return target

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer layers-tui (schema {version}); "
                "upgrade layers-tui or move the file away."
            )
        while version < SCHEMA_VERSION:
            with self.transaction():
                for statement in _statements(MIGRATIONS[version]):
                    self._db.execute(statement)
                version += 1
                self._db.execute(f"PRAGMA user_version = {version}")

    def _check_readable(self) -> None:
        for table in ("meta", "projects", "accounts", "history", "flows", "journal"):
            self._db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; taken at once (IMMEDIATE) so writers queue, never deadlock."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def data_version(self) -> int:
        """Changes whenever another connection commits (cheap; polled by readers)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    # -- meta -----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- projects and accounts ----------------------------------------------------------------
    def replace_projects(self, projects: Sequence[dict[str, Any]], at: datetime) -> None:
        """The organisation's project list as just listed (in API order). Projects no longer
        listed are dropped with their accounts; history stays."""
        stamp = at.timestamp()
        with self.transaction() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS listed (id TEXT PRIMARY KEY)")
            db.execute("DELETE FROM temp.listed")
            db.executemany(
                "INSERT OR IGNORE INTO temp.listed (id) VALUES (?)",
                ((doc["id"],) for doc in projects),
            )
            # The numbers of the saves about to go: kept, so later saves number above them.
            (last,) = db.execute(f"SELECT {_LAST_SEQ}").fetchone()
            self._set_meta_in(db, "seq_floor", str(int(last)))
            for table, column in (
                ("projects", "id"),
                ("project_state", "project_id"),
                ("accounts", "project_id"),
            ):
                db.execute(
                    f"DELETE FROM {table} WHERE {column} NOT IN (SELECT id FROM temp.listed)"
                )
            db.executemany(
                "INSERT INTO projects (id, position, doc, listed_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET position = excluded.position, "
                "doc = excluded.doc, listed_at = excluded.listed_at",
                ((doc["id"], position, _dump(doc), stamp) for position, doc in enumerate(projects)),
            )
            self._set_meta_in(db, "projects_listed_at", str(stamp))

    def projects_listed_at(self) -> datetime | None:
        value = self.get_meta("projects_listed_at")
        return from_epoch(float(value)) if value else None

    def projects(self) -> list[ProjectRecord]:
        rows = self._db.execute(
            "SELECT p.id, p.doc, s.refreshed_at, s.attempted_at, s.error, s.invalid, "
            "COALESCE(s.seq, 0) FROM projects p LEFT JOIN project_state s "
            "ON s.project_id = p.id ORDER BY p.position"
        ).fetchall()
        return [_project_record(row) for row in rows]

    def project_count(self) -> int:
        """How many projects the last listing had (no documents read)."""
        return int(self._db.execute("SELECT COUNT(*) FROM projects").fetchone()[0])

    def project(self, project_id: str) -> ProjectRecord | None:
        row = self._db.execute(
            "SELECT p.id, p.doc, s.refreshed_at, s.attempted_at, s.error, s.invalid, "
            "COALESCE(s.seq, 0) FROM projects p LEFT JOIN project_state s "
            "ON s.project_id = p.id WHERE p.id = ?",
            (project_id,),
        ).fetchone()
        return None if row is None else _project_record(row)

    def changed_projects(self, after_seq: int) -> list[ProjectRecord]:
        """Projects saved (by any process) since `after_seq`."""
        rows = self._db.execute(
            "SELECT p.id, p.doc, s.refreshed_at, s.attempted_at, s.error, s.invalid, s.seq "
            "FROM project_state s JOIN projects p ON p.id = s.project_id "
            "WHERE s.seq > ? ORDER BY s.seq",
            (after_seq,),
        ).fetchall()
        return [_project_record(row) for row in rows]

    def last_seq(self) -> int:
        row = self._db.execute(f"SELECT {_LAST_SEQ}").fetchone()
        return int(row[0] or 0)

    def accounts(self, project_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(kind, document) of every account of a project, in the order they were listed."""
        rows = self._db.execute(
            "SELECT kind, doc FROM accounts WHERE project_id = ? ORDER BY rowid", (project_id,)
        ).fetchall()
        return [(kind, json.loads(doc)) for kind, doc in rows]

    def account_arrays(self, project_ids: Sequence[str] | None = None) -> dict[str, dict[str, str]]:
        """project id -> kind -> its accounts' documents as one JSON array (text), in the
        order they were listed: parsed and validated in one pass by the caller. Every
        project's, or those of `project_ids`."""
        result: dict[str, dict[str, str]] = {}
        for where, args in _in_batches("project_id", project_ids):
            condition = f"WHERE {where} " if where else ""
            for project_id, kind, array in self._db.execute(
                "SELECT project_id, kind, '[' || group_concat(doc, ',') || ']' FROM "
                f"(SELECT project_id, kind, doc FROM accounts {condition}"
                "ORDER BY project_id, rowid) GROUP BY project_id, kind",
                args,
            ):
                result.setdefault(project_id, {})[kind] = array
        return result

    def save_project(
        self,
        project_id: str,
        accounts: Iterable[StoredAccount],
        invalid: Sequence[dict[str, Any]],
        at: datetime,
    ) -> list[Change]:
        """A project's lists as just fetched: replaces its accounts and records every status
        or severity change in the history. Returns those changes."""
        stamp = at.timestamp()
        changes: list[Change] = []
        with self.transaction() as db:
            before = {
                (kind, key): (status, severity)
                for kind, key, status, severity in db.execute(
                    "SELECT kind, key, status, severity FROM accounts WHERE project_id = ?",
                    (project_id,),
                )
            }
            seen: set[tuple[str, str]] = set()
            rows = []
            for account in accounts:
                ident = (account.kind, account.key)
                if ident in seen:
                    continue
                seen.add(ident)
                old = before.get(ident)
                if old is None or old != (account.status, account.severity):
                    changes.append(
                        Change(
                            stamp,
                            project_id,
                            account.kind,
                            account.key,
                            account.platform,
                            account.name,
                            old[0] if old else None,
                            account.status,
                            old[1] if old else None,
                            account.severity,
                        )
                    )
                rows.append(
                    (
                        project_id,
                        account.kind,
                        account.key,
                        account.platform,
                        account.name,
                        account.status,
                        account.severity,
                        account.expires_at,
                        int(account.leased),
                        _dump(account.doc),
                    )
                )
            db.execute("DELETE FROM accounts WHERE project_id = ?", (project_id,))
            db.executemany(
                "INSERT INTO accounts (project_id, kind, key, platform, name, status, severity, "
                "expires_at, leased, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            for kind, key in set(before) - seen:
                # Gone from the list (revoked accounts normally stay listed as disconnected).
                changes.append(
                    Change(
                        stamp,
                        project_id,
                        kind,
                        key,
                        "",
                        "",
                        before[(kind, key)][0],
                        None,
                        before[(kind, key)][1],
                        None,
                    )
                )
            self._insert_history(db, changes)
            self._set_state(db, project_id, stamp, stamp, None, invalid)
        return changes

    def save_project_error(self, project_id: str, error: dict[str, Any], at: datetime) -> None:
        """A failed refresh: last good data stays; the error and the attempt are recorded."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT refreshed_at, invalid FROM project_state WHERE project_id = ?",
                (project_id,),
            ).fetchone()
            refreshed = row[0] if row else None
            invalid = json.loads(row[1]) if row and row[1] else []
            self._set_state(db, project_id, refreshed, at.timestamp(), error, invalid)

    def _set_state(
        self,
        db: sqlite3.Connection,
        project_id: str,
        refreshed_at: float | None,
        attempted_at: float,
        error: dict[str, Any] | None,
        invalid: Sequence[dict[str, Any]],
    ) -> None:
        db.execute(
            "INSERT INTO project_state (project_id, refreshed_at, attempted_at, error, invalid, "
            f"seq) VALUES (?, ?, ?, ?, ?, (SELECT {_LAST_SEQ} + 1)) "
            "ON CONFLICT(project_id) DO UPDATE SET refreshed_at = excluded.refreshed_at, "
            "attempted_at = excluded.attempted_at, error = excluded.error, "
            "invalid = excluded.invalid, seq = excluded.seq",
            (
                project_id,
                refreshed_at,
                attempted_at,
                _dump(error) if error is not None else None,
                _dump(list(invalid)) if invalid else None,
            ),
        )

    def _insert_history(self, db: sqlite3.Connection, changes: Sequence[Change]) -> None:
        db.executemany(
            "INSERT INTO history (at, project_id, kind, account_key, platform, name, old_status, "
            "new_status, old_severity, new_severity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    c.at,
                    c.project_id,
                    c.kind,
                    c.account_key,
                    c.platform,
                    c.name,
                    c.old_status,
                    c.new_status,
                    c.old_severity,
                    c.new_severity,
                )
                for c in changes
            ),
        )

    @staticmethod
    def _set_meta_in(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- aggregation (for check and metrics: no rows rebuilt in Python) ------------------------
    def severity_counts(
        self,
        project_ids: Sequence[str] | None = None,
        platform: str | None = None,
        kind: str | None = None,
    ) -> dict[int, int]:
        where, args = _selection(project_ids, platform, kind)
        rows = self._db.execute(
            f"SELECT severity, COUNT(*) FROM accounts {where} GROUP BY severity", args
        ).fetchall()
        return {int(severity): int(count) for severity, count in rows}

    def severity_counts_by_project(self) -> dict[str, dict[int, int]]:
        """project id -> severity -> how many accounts, as their last save decided (one
        pass over the covering index: no documents read)."""
        result: dict[str, dict[int, int]] = {}
        for project_id, severity, count in self._db.execute(
            "SELECT project_id, severity, COUNT(*) FROM accounts GROUP BY project_id, severity"
        ):
            result.setdefault(project_id, {})[int(severity)] = int(count)
        return result

    def worst_accounts(self, limit: int) -> list[tuple[str, str, dict[str, Any]]]:
        """(project_id, kind, doc) of the first `limit` accounts in the dashboard's default
        order, by their saved severity: worst first, then the soonest expiry, the project's
        name, the account's name, the listing order."""
        rows = self._db.execute(
            "SELECT a.project_id, a.kind, a.doc FROM accounts a "
            "JOIN projects p ON p.id = a.project_id ORDER BY a.severity DESC, "
            "a.expires_at IS NULL, a.expires_at, lower(json_extract(p.doc, '$.name')), "
            "lower(a.name), p.position, a.rowid LIMIT ?",
            (limit,),
        ).fetchall()
        return [(project_id, kind, json.loads(doc)) for project_id, kind, doc in rows]

    def account_samples(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(project_id, kind, doc) of the accounts with the soonest and the latest expiry of
        each saved state (kind, status, severity, leased): between them, every status label
        the accounts have (an expired token reads differently from one about to expire)."""
        picked = [
            rowid
            for extreme in ("MIN", "MAX")
            for rowid, _ in self._db.execute(
                f"SELECT rowid, {extreme}(expires_at) FROM accounts "
                "GROUP BY kind, status, severity, leased"
            )
        ]
        if not picked:
            return []
        rows = self._db.execute(
            f"SELECT project_id, kind, doc FROM accounts WHERE rowid IN "
            f"({','.join('?' * len(picked))}) ORDER BY rowid",
            picked,
        ).fetchall()
        return [(project_id, kind, json.loads(doc)) for project_id, kind, doc in rows]

    def account_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])

    def accounts_where(
        self,
        condition: str,
        params: Sequence[Any] = (),
        project_ids: Sequence[str] | None = None,
        platform: str | None = None,
        kind: str | None = None,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """(project_id, kind, doc) of the accounts matching a selection plus `condition`
        (SQL over the columns of `accounts`, with `?` parameters)."""
        where, args = _selection(project_ids, platform, kind)
        where = f"{where} AND ({condition})" if where else f"WHERE {condition}"
        rows = self._db.execute(
            f"SELECT project_id, kind, doc FROM accounts {where} ORDER BY project_id, rowid",
            [*args, *params],
        ).fetchall()
        return [(project_id, kind, json.loads(doc)) for project_id, kind, doc in rows]

    def count_where(
        self,
        condition: str,
        params: Sequence[Any] = (),
        project_ids: Sequence[str] | None = None,
        platform: str | None = None,
        kind: str | None = None,
    ) -> int:
        where, args = _selection(project_ids, platform, kind)
        where = f"{where} AND ({condition})" if where else f"WHERE {condition}"
        row = self._db.execute(f"SELECT COUNT(*) FROM accounts {where}", [*args, *params])
        return int(row.fetchone()[0])

    def first_accounts(
        self,
        condition: str,
        params: Sequence[Any] = (),
        limit: int = 25,
        order_by: str | None = None,
        project_ids: Sequence[str] | None = None,
        platform: str | None = None,
        kind: str | None = None,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """The first `limit` accounts matching `condition` within the selection (SQL picks
        them, so the others' documents are never read)."""
        where, args = _selection(project_ids, platform, kind)
        where = f"{where} AND ({condition})" if where else f"WHERE ({condition})"
        order = f" ORDER BY {order_by}" if order_by else ""
        inner = f"SELECT rowid FROM accounts {where}{order} LIMIT {int(limit)}"
        return self.accounts_where(f"rowid IN ({inner})", [*args, *params])

    def aggregate(
        self,
        expressions: Sequence[tuple[str, Sequence[Any]]],
        project_ids: Sequence[str] | None = None,
        platform: str | None = None,
        kind: str | None = None,
    ) -> tuple[Any, ...]:
        """Several aggregates over a selection in one pass over the accounts: each
        expression is SQL over the columns of `accounts` (`COUNT(*)`, `SUM(...)`,
        `MIN(...)`) with its `?` parameters; one value per expression, in order."""
        where, args = _selection(project_ids, platform, kind)
        columns = ", ".join(sql for sql, _ in expressions)
        params = [value for _, values in expressions for value in values]
        row = self._db.execute(f"SELECT {columns} FROM accounts {where}", [*params, *args])
        return tuple(row.fetchone())

    def min_expiry(
        self,
        project_ids: Sequence[str] | None = None,
        platform: str | None = None,
        kind: str | None = None,
    ) -> float | None:
        where, args = _selection(project_ids, platform, kind)
        condition = "status = 'connected' AND expires_at IS NOT NULL"
        where = f"{where} AND {condition}" if where else f"WHERE {condition}"
        row = self._db.execute(f"SELECT MIN(expires_at) FROM accounts {where}", args).fetchone()
        return row[0]

    def rollup(self) -> list[tuple[str, str, str, str, int]]:
        """(project_id, platform, kind, status, count): low-cardinality counts for metrics."""
        return [
            tuple(row)  # type: ignore[misc]
            for row in self._db.execute(
                "SELECT project_id, platform, kind, status, COUNT(*) FROM accounts "
                "GROUP BY project_id, platform, kind, status"
            )
        ]

    def state_counts(
        self,
        project_ids: Sequence[str] | None = None,
        platform: str | None = None,
        kind: str | None = None,
    ) -> dict[tuple[str, str], int]:
        """(kind, status) -> how many accounts of a selection, from the covering index
        `accounts_state` (no documents read). Over everything, the pairs are found by
        seeking in the index, each counted by its range of the index but `LARGEST_STATE`
        (most accounts of a healthy organisation), which is the table's count (SQLite counts
        a whole table by its pages) less the others: a fraction of the index is walked.
        Narrowed, one walk grouped by (kind, status)."""
        if project_ids is not None or platform is not None or kind is not None:
            where, args = _selection(project_ids, platform, kind)
            rows = self._db.execute(
                f"SELECT kind, status, COUNT(*) FROM accounts {where} GROUP BY kind, status",
                args,
            )
            return {(row_kind, status): int(count) for row_kind, status, count in rows}
        with self.read_snapshot():
            total = int(self._db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])
            pairs = self._state_pairs()
            counts = {
                pair: int(
                    self._db.execute(
                        "SELECT COUNT(*) FROM accounts WHERE kind = ? AND status = ?", pair
                    ).fetchone()[0]
                )
                for pair in pairs
                if pair != LARGEST_STATE
            }
        if LARGEST_STATE in pairs:
            counts[LARGEST_STATE] = total - sum(counts.values())
        return counts

    def _state_pairs(self) -> list[tuple[str, str]]:
        """The distinct (kind, status) pairs, in index order: one seek in the index each."""
        pairs: list[tuple[str, str]] = []
        row = self._db.execute(
            "SELECT kind, status FROM accounts ORDER BY kind, status LIMIT 1"
        ).fetchone()
        while row is not None:
            pairs.append((row[0], row[1]))
            row = (
                self._db.execute(
                    "SELECT kind, status FROM accounts WHERE kind = ? AND status > ? "
                    "ORDER BY kind, status LIMIT 1",
                    (row[0], row[1]),
                ).fetchone()
                or self._db.execute(
                    "SELECT kind, status FROM accounts WHERE kind > ? "
                    "ORDER BY kind, status LIMIT 1",
                    (row[0],),
                ).fetchone()
            )
        return pairs

    def listed_count(self, project_ids: Sequence[str] | None = None) -> int:
        """How many of `project_ids` (None: of all projects) the last listing had; no
        documents read."""
        if project_ids is None:
            return self.project_count()
        within, args = _listed_in(project_ids)
        row = self._db.execute(f"SELECT COUNT(*) FROM projects p WHERE {within}", args)
        return int(row.fetchone()[0])

    def notable_projects(
        self, stale_before: float | None, project_ids: Sequence[str] | None = None
    ) -> list[ProjectRecord]:
        """Listed projects a report names, in listing order: never refreshed, refreshed
        before `stale_before` (epoch), last attempt failed, or with unreadable records. The
        states are filtered first (never the whole list joined): only the named projects'
        documents are read."""
        within, args = _listed_in(project_ids)
        stale = "" if stale_before is None else " OR s.refreshed_at < ?"
        rows = self._db.execute(
            "SELECT p.id, p.doc, s.refreshed_at, s.attempted_at, s.error, s.invalid, s.seq, "
            "p.position FROM project_state s JOIN projects p ON p.id = s.project_id "
            f"WHERE {within} AND (s.refreshed_at IS NULL OR s.error IS NOT NULL "
            f"OR (s.invalid IS NOT NULL AND s.invalid != '[]'){stale}) "
            "UNION ALL SELECT p.id, p.doc, NULL, NULL, NULL, NULL, 0, p.position FROM projects p "
            f"WHERE {within} AND {_UNSTATED} ORDER BY 8",
            [*args, *(() if stale_before is None else (stale_before,)), *args],
        ).fetchall()
        return [_project_record(row[:7]) for row in rows]

    def projects_by_id(self, project_ids: Iterable[str]) -> dict[str, ProjectRecord]:
        """The listed projects among `project_ids`, by id (unlisted ids are left out)."""
        records: dict[str, ProjectRecord] = {}
        for clause, batch in _in_batches("p.id", sorted(set(project_ids))):
            if not batch:
                continue
            rows = self._db.execute(
                "SELECT p.id, p.doc, s.refreshed_at, s.attempted_at, s.error, s.invalid, "
                "COALESCE(s.seq, 0) FROM projects p LEFT JOIN project_state s "
                f"ON s.project_id = p.id WHERE {clause}",
                batch,
            )
            records.update((row[0], _project_record(row)) for row in rows)
        return records

    def due_count(
        self, now: float, max_age: float, project_ids: Sequence[str] | None = None
    ) -> int:
        """How many listed projects need a refresh: no data, data `max_age` seconds old or
        older at `now` (epoch), or a failed last attempt (states filtered first, as in
        `notable_projects`)."""
        within, args = _listed_in(project_ids)
        row = self._db.execute(
            "SELECT (SELECT COUNT(*) FROM project_state s JOIN projects p "
            f"ON p.id = s.project_id WHERE {within} AND (s.refreshed_at IS NULL "
            "OR ? - s.refreshed_at >= ? OR (s.error IS NOT NULL AND s.error NOT IN ('', 'null')))"
            f") + (SELECT COUNT(*) FROM projects p WHERE {within} AND {_UNSTATED})",
            [*args, now, max_age, *args],
        ).fetchone()
        return int(row[0])

    # -- metrics (covering columns only, never the documents) -----------------------------------
    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Several reads that see one state of the store (a deferred read transaction);
        inside a write already open on this connection, they read that write."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def metrics_marks(self) -> tuple[Any, ...]:
        """A cheap fingerprint of what metrics show: it moves when a project is saved or
        its attempt fails, the project list grows or shrinks, a flow is saved, a journal
        entry is added or the tier changes (not when a lease is renewed)."""
        return tuple(
            self._db.execute(
                f"SELECT {_LAST_SEQ}, "
                "(SELECT COUNT(*) FROM projects), (SELECT COALESCE(MAX(id), 0) FROM journal), "
                "(SELECT COUNT(*) FROM flows), (SELECT MAX(updated_at) FROM flows), "
                "(SELECT value FROM meta WHERE key = 'tier')"
            ).fetchone()
        )

    def project_states(self) -> list[tuple[str, float | None, float | None, bool, int]]:
        """(project_id, refreshed_at, attempted_at, last attempt failed, seq) of every listed
        project, in listing order."""
        rows = self._db.execute(
            "SELECT p.id, s.refreshed_at, s.attempted_at, s.error IS NOT NULL, "
            "COALESCE(s.seq, 0) FROM projects p LEFT JOIN project_state s "
            "ON s.project_id = p.id ORDER BY p.position"
        )
        return [(pid, ref, att, bool(failed), int(seq)) for pid, ref, att, failed, seq in rows]

    def account_states(
        self, project_ids: Sequence[str] | None = None
    ) -> list[tuple[str, str, str, str, str, float | None]]:
        """(project_id, platform, kind, key, status as sent, expires_at) of the accounts of
        `project_ids` (None: of every project)."""
        rows: list[tuple[str, str, str, str, str, float | None]] = []
        for where, args in _in_batches("project_id", project_ids):
            rows += self._db.execute(
                "SELECT project_id, platform, kind, key, status, expires_at FROM accounts "
                + (f"WHERE {where}" if where else ""),
                args,
            )
        return rows

    def status_changed_at(
        self, project_ids: Sequence[str] | None = None
    ) -> dict[tuple[str, str, str], float]:
        """(project_id, kind, account_key) -> when the account's status last changed, for the
        accounts of `project_ids` (None: of every project) that have a recorded change."""
        changes: dict[tuple[str, str, str], float] = {}
        for where, args in _in_batches("project_id", project_ids):
            rows = self._db.execute(
                "SELECT project_id, kind, account_key, MAX(at) FROM history "
                "WHERE new_status IS NOT NULL "
                "AND (old_status IS NULL OR old_status != new_status) "
                + (f"AND {where} " if where else "")
                + "GROUP BY project_id, kind, account_key",
                args,
            )
            for pid, kind, key, at in rows:
                changes[(pid, kind, key)] = at
        return changes

    # -- history --------------------------------------------------------------------------------
    def history(
        self,
        *,
        account_key: str | None = None,
        project_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[Change]:
        clauses, args = [], []
        if account_key is not None:
            clauses.append("account_key = ?")
            args.append(account_key)
        if project_id is not None:
            clauses.append("project_id = ?")
            args.append(project_id)
        if since is not None:
            clauses.append("at >= ?")
            args.append(since.timestamp())
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self._db.execute(
            "SELECT at, project_id, kind, account_key, platform, name, old_status, new_status, "
            f"old_severity, new_severity FROM history {where} ORDER BY at DESC, id DESC{tail}",
            args,
        ).fetchall()
        return [Change(*row) for row in rows]

    def last_history_id(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM history").fetchone()[0])

    def history_after(self, history_id: int) -> tuple[int, list[Change]]:
        """Changes recorded (by any process) after `history_id`, oldest first, and the
        newest id among them (`history_id` when there are none)."""
        rows = self._db.execute(
            "SELECT id, at, project_id, kind, account_key, platform, name, old_status, "
            "new_status, old_severity, new_severity FROM history WHERE id > ? ORDER BY id",
            (history_id,),
        ).fetchall()
        if not rows:
            return history_id, []
        return rows[-1][0], [Change(*row[1:]) for row in rows]

    def severity_since(self, project_id: str | None = None) -> dict[tuple[str, str], float]:
        """(kind, key) -> when each account reached its current severity (its last change of
        severity), for the "broken since" column."""
        where = "WHERE h.project_id = ?" if project_id is not None else ""
        args = (project_id,) if project_id is not None else ()
        rows = self._db.execute(
            "SELECT h.kind, h.account_key, MAX(h.at) FROM history h "
            f"{where} {'AND' if where else 'WHERE'} "
            "(h.old_severity IS NULL OR h.old_severity != h.new_severity) "
            "AND h.new_severity IS NOT NULL GROUP BY h.kind, h.account_key",
            args,
        ).fetchall()
        return {(kind, key): at for kind, key, at in rows}

    # -- alert state (watch's [[notify]] targets) -------------------------------------------
    def alert_states(self, target: str) -> dict[str, str]:
        """subject -> the state `target` was last told about (or first saw)."""
        rows = self._db.execute(
            "SELECT subject, state FROM alert_state WHERE target = ?", (target,)
        ).fetchall()
        return {subject: state for subject, state in rows}

    def seed_alert_states(self, target: str, states: Iterable[tuple[str, str]], at: float) -> None:
        """Record the first state seen of subjects `target` has no state for (no alert)."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO alert_state (target, subject, state, at) "
                "VALUES (?, ?, ?, ?)",
                ((target, subject, state, at) for subject, state in states),
            )

    def advance_alert_state(
        self, target: str, subject: str, expected: str | None, state: str, at: float
    ) -> bool:
        """Move `target`'s state of `subject` from `expected` to `state`; False when another
        process moved it first (then that process sends the alert, not this one)."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT state FROM alert_state WHERE target = ? AND subject = ?",
                (target, subject),
            ).fetchone()
            if (row[0] if row else None) != expected:
                return False
            db.execute(
                "INSERT INTO alert_state (target, subject, state, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(target, subject) DO UPDATE SET state = excluded.state, "
                "at = excluded.at",
                (target, subject, state, at),
            )
        return True

    def account_severities(self) -> list[tuple[str, str, str, int]]:
        """(project_id, kind, key, severity) of every account, for alert baselines."""
        return [
            (str(p), str(k), str(key), int(s))
            for p, k, key, s in self._db.execute(
                "SELECT project_id, kind, key, severity FROM accounts"
            )
        ]

    def last_refreshed_at(self) -> float | None:
        """When any project was last refreshed successfully (by any process)."""
        return self._db.execute("SELECT MAX(refreshed_at) FROM project_state").fetchone()[0]

    # -- flows ----------------------------------------------------------------------------------
    def flow_documents(self) -> list[dict[str, Any]]:
        return [json.loads(doc) for (doc,) in self._db.execute("SELECT doc FROM flows")]

    def save_flow_documents(
        self, documents: Iterable[tuple[str, str, float, dict[str, Any]]]
    ) -> None:
        """Upsert (id, status, updated_at, document); a newer `updated_at` wins, so two
        processes never overwrite each other's later news."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO flows (id, status, updated_at, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                "updated_at = excluded.updated_at, doc = excluded.doc "
                "WHERE excluded.updated_at >= flows.updated_at",
                ((ident, status, updated, _dump(doc)) for ident, status, updated, doc in documents),
            )

    def prune_flows(self, finished_before: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "DELETE FROM flows WHERE status != 'pending' AND updated_at < ?",
                (finished_before.timestamp(),),
            )

    # -- journal --------------------------------------------------------------------------------
    def journal_add(self, entry: JournalEntry) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO journal (at, action, profile, key_id, host, project_id, account_id, "
                "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.at,
                    entry.action,
                    entry.profile,
                    entry.key_id,
                    entry.host,
                    entry.project_id,
                    entry.account_id,
                    _dump(entry.detail),
                ),
            )

    def journal(
        self, since: datetime | None = None, limit: int | None = None
    ) -> list[JournalEntry]:
        where = "WHERE at >= ?" if since is not None else ""
        args = (since.timestamp(),) if since is not None else ()
        tail = f" LIMIT {int(limit)}" if limit else ""
        rows = self._db.execute(
            "SELECT at, action, profile, key_id, host, project_id, account_id, detail "
            f"FROM journal {where} ORDER BY at DESC, id DESC{tail}",
            args,
        ).fetchall()
        return [JournalEntry(*row[:7], json.loads(row[7])) for row in rows]

    def journal_last_id(self) -> int:
        """The newest journal entry's id (0 when empty): cheap to poll for new entries."""
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM journal").fetchone()[0])

    # -- refresh lease and requests --------------------------------------------------------------
    def try_lease(self, holder: str, ttl: float, now: float, name: str = REFRESH_LEASE) -> bool:
        """Take or renew the lease. Free when nobody holds it, when it expired, or when its
        holder was a process on this machine that is gone."""
        here = socket.gethostname()
        with self.transaction() as db:
            row = db.execute(
                "SELECT holder, host, pid, expires_at FROM lease WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != holder:
                other_holder, other_host, other_pid, expires_at = row
                alive = other_host != here or _pid_alive(other_pid)
                if expires_at > now and alive:
                    return False
            db.execute(
                "INSERT INTO lease (name, holder, host, pid, expires_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, host = excluded.host, "
                "pid = excluded.pid, expires_at = excluded.expires_at",
                (name, holder, here, os.getpid(), now + ttl),
            )
        return True

    def lease_holder(self, now: float, name: str = REFRESH_LEASE) -> str | None:
        row = self._db.execute(
            "SELECT holder, host, pid, expires_at FROM lease WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[3] <= now:
            return None
        if row[1] == socket.gethostname() and not _pid_alive(row[2]):
            return None
        return str(row[0])

    def lease_owner(self, now: float, name: str = REFRESH_LEASE) -> tuple[str, int] | None:
        """(host, pid) of the live holder of the lease, for telling the user who refreshes."""
        if self.lease_holder(now, name) is None:
            return None
        row = self._db.execute("SELECT host, pid FROM lease WHERE name = ?", (name,)).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def release_lease(self, holder: str, name: str = REFRESH_LEASE) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM lease WHERE name = ? AND holder = ?", (name, holder))

    def request_refresh(self, project_ids: Iterable[str], at: datetime) -> None:
        """Ask whichever process holds the lease to refresh these projects next."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO refresh_requests (project_id, at) VALUES (?, ?) "
                "ON CONFLICT(project_id) DO UPDATE SET at = excluded.at",
                ((pid, at.timestamp()) for pid in project_ids),
            )

    def take_refresh_requests(self) -> list[str]:
        with self.transaction() as db:
            rows = db.execute("SELECT project_id FROM refresh_requests ORDER BY at").fetchall()
            db.execute("DELETE FROM refresh_requests")
        return [row[0] for row in rows]


def _selection(
    project_ids: Sequence[str] | None, platform: str | None, kind: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if project_ids is not None:
        clauses.append(f"project_id IN ({','.join('?' * len(project_ids))})")
        args.extend(project_ids)
    if platform is not None:
        clauses.append("platform = ?")
        args.append(platform)
    if kind is not None:
        clauses.append("kind = ?")
        args.append(kind)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else "", args)


def _listed_in(project_ids: Sequence[str] | None) -> tuple[str, list[Any]]:
    """A condition on `projects p` for a selection of project ids (None: every one)."""
    if project_ids is None:
        return "1 = 1", []
    return f"p.id IN ({','.join('?' * len(project_ids))})", list(project_ids)


# A listed project `p` with no state yet (never refreshed nor attempted).
_UNSTATED = "NOT EXISTS (SELECT 1 FROM project_state s WHERE s.project_id = p.id)"


IN_BATCH = 500  # ids per IN (...) clause, well under SQLite's variable limit


def _in_batches(column: str, values: Sequence[str] | None) -> list[tuple[str, tuple[str, ...]]]:
    """`column IN (...)` clauses with their arguments, `IN_BATCH` values each; one empty
    clause (no condition) for None."""
    if values is None:
        return [("", ())]
    batches = [tuple(values[i : i + IN_BATCH]) for i in range(0, len(values), IN_BATCH)]
    return [(f"{column} IN ({','.join('?' * len(batch))})", batch) for batch in batches]


def _project_record(row: Sequence[Any]) -> ProjectRecord:
    ident, doc, refreshed, attempted, error, invalid, seq = row
    return ProjectRecord(
        id=ident,
        doc=json.loads(doc),
        refreshed_at=refreshed,
        attempted_at=attempted,
        error=json.loads(error) if error else None,
        invalid=json.loads(invalid) if invalid and invalid != "[]" else [],
        seq=int(seq or 0),
    )


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def arrays_hash(arrays: dict[str, str]) -> int:
    """A hash of one project's account documents as `Store.account_arrays` gives them (kind
    -> JSON array text): equal for equal documents in equal order, within one process."""
    return hash((arrays.get("social"), arrays.get("ad")))


def documents_hash(accounts: Iterable[StoredAccount]) -> int:
    """`arrays_hash` of accounts about to be saved: what `account_arrays` will read back
    (duplicates included, so a list the store would thin out never matches)."""
    documents: dict[str, list[str]] = {}
    for account in accounts:
        documents.setdefault(account.kind, []).append(_dump(account.doc))
    return arrays_hash({kind: "[" + ",".join(items) + "]" for kind, items in documents.items()})


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)

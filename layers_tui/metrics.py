"""Prometheus metrics of the organisation's health, read from the local store at scrape time.

A scrape never calls the Layers API: it reads what the refresh loop (`watch`, `sync`, the
dashboard) last wrote to the store. Two faces share one reading (`read_store`):
`layers-tui metrics --textfile PATH` writes the exposition atomically for node_exporter's
textfile collector (`run_metrics_command`), and `watch --metrics HOST:PORT` serves
`/metrics` over HTTP (`serve`).

`StoreCollector` is a prometheus-client custom collector (families built at scrape time on a
private registry); prometheus-client writes the exposition and serves it. A per-project
cache (`ProjectCache`) re-reads only the projects saved since the last scrape.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import math
import os
import platform as _platform
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import (
    CollectorRegistry,
    generate_latest,
    write_to_textfile,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    StateSetMetricFamily,
)
from prometheus_client.exposition import (
    CONTENT_TYPE_PLAIN_0_0_4,
    ThreadingWSGIServer,
    gzip_accepted,
)
from prometheus_client.registry import Collector

from layers_tui import __version__
from layers_tui.domain.status import SOCIAL_STATUSES, TOKEN_STATUSES
from layers_tui.flows.model import KINDS as FLOW_KINDS
from layers_tui.flows.model import STATUSES as FLOW_STATUSES
from layers_tui.session.session import RequestCounter
from layers_tui.text import safe

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from layers_tui.session.inventory import InventoryEvent
    from layers_tui.session.session import Session
    from layers_tui.session.store import Store

log = logging.getLogger("layers_tui.metrics")

PREFIX = "layers_"
UNKNOWN_STATE = "unknown"
# The states of each kind's state set: the API's values we know, plus one for the rest.
ACCOUNT_STATES = {
    "social": (*SOCIAL_STATUSES, UNKNOWN_STATE),
    "ad": (*TOKEN_STATUSES, UNKNOWN_STATE),
}
ACCOUNT_LABELS = ("project", "platform", "kind", "account")
LABEL_LIMIT = 200


def label(value: object) -> str:
    """An API string as a label value: control characters made visible, length capped."""
    return safe(value, LABEL_LIMIT)


@dataclass(frozen=True)
class AccountState:
    project: str
    platform: str
    kind: str
    account: str
    status: str  # one of ACCOUNT_STATES[kind]
    expires_at: float | None
    changed_at: float | None  # the last change of its status, from the history


@dataclass(frozen=True)
class ProjectState:
    project: str
    refreshed_at: float | None
    attempted_at: float | None
    failed: bool


class ProjectGroup:
    """One project as last read: its state, its accounts and its roll-up counts, and (once
    asked for) its series as prometheus-client objects, kept until the project is saved
    again: a production re-builds only the projects saved since the previous one."""

    __slots__ = ("seq", "state", "accounts", "counts", "_metrics")

    def __init__(
        self,
        seq: int,
        state: ProjectState,
        accounts: list[AccountState],
        counts: list[tuple[str, str, str, int]],
    ) -> None:
        self.seq = seq
        self.state = state
        self.accounts = accounts
        self.counts = counts  # (platform, kind, status as sent, count), sorted
        self._metrics: list[Metric] | None = None

    def metrics(self) -> list[Metric]:
        """This project's part of each of PROJECT_FAMILIES, built by prometheus-client."""
        if self._metrics is None:
            per_project = _project_families()
            _fill_project(per_project, self)
            self._metrics = [to_metric(family) for family in per_project]
        return self._metrics


@dataclass
class Reading:
    """Everything one scrape shows, read from the store (and, in `watch`, from the running
    session: pass duration, a failed listing, rate-limit headers, requests)."""

    profile: str
    store_ok: bool = False
    groups: list[ProjectGroup] = field(default_factory=list)
    flows: Counter[tuple[str, str]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    tier: str | None = None
    refresh_duration: float | None = None
    listing_failed: bool = False
    rate_limits: list[tuple[str, int | None, int | None]] = field(default_factory=list)
    requests: dict[tuple[str, str, str], int] = field(default_factory=dict)
    produced_at: float | None = None  # watch: when this exposition was produced
    production_seconds: float | None = None  # watch: how long the previous one took

    @property
    def projects(self) -> list[ProjectState]:
        return [group.state for group in self.groups]

    @property
    def accounts(self) -> list[AccountState]:
        return [account for group in self.groups for account in group.accounts]

    @property
    def last_refresh(self) -> float | None:
        times = [p.refreshed_at for p in self.projects if p.refreshed_at is not None]
        return max(times) if times else None

    @property
    def oldest_refresh(self) -> float | None:
        """The stalest project's last success (None when some project never succeeded)."""
        times = [p.refreshed_at for p in self.projects]
        if not times or any(t is None for t in times):
            return None
        return min(t for t in times if t is not None)

    @property
    def up(self) -> bool:
        """The store was read, something was ever refreshed, the latest listing worked (as
        far as this process knows) and not every project's latest attempt failed: refreshes
        work. One failing project shows in `layers_project_up`, not here."""
        if not self.store_ok or self.listing_failed or self.last_refresh is None:
            return False
        attempted = [p for p in self.projects if p.attempted_at is not None]
        return not attempted or not all(p.failed for p in attempted)


# -- reading the store -----------------------------------------------------------------------
class ProjectCache:
    """Projects as last read, re-read only when saved since (a project's `seq` moves on
    every save or failed attempt, and its history is written in the same transaction)."""

    def __init__(self) -> None:
        self.groups: dict[str, ProjectGroup] = {}

    def update(self, store: Store) -> list[ProjectGroup]:
        """Bring the cache up to the store (call inside `store.read_snapshot()`); returns the
        groups in exposition order."""
        listed = {row[0]: row for row in store.project_states()}
        for gone in set(self.groups) - set(listed):
            del self.groups[gone]
        stale = [
            pid
            for pid, row in listed.items()
            if (group := self.groups.get(pid)) is None or group.seq != row[4]
        ]
        if stale:
            fresh = _read_accounts(store, stale if len(stale) < len(listed) else None)
            for pid in stale:
                _, refreshed, attempted, failed, seq = listed[pid]
                accounts, counts = fresh.get(pid, ([], []))
                state = ProjectState(label(pid), refreshed, attempted, failed)
                self.groups[pid] = ProjectGroup(seq, state, accounts, counts)
        return sorted(self.groups.values(), key=lambda group: group.state.project)


def _read_accounts(
    store: Store, project_ids: list[str] | None
) -> dict[str, tuple[list[AccountState], list[tuple[str, str, str, int]]]]:
    """Accounts (sorted by kind and id) and roll-up counts of these projects (None: of
    every project)."""
    rows = store.account_states(project_ids)
    changes = store.status_changed_at(project_ids)
    known = {kind: frozenset(states) for kind, states in ACCOUNT_STATES.items()}
    accounts: dict[str, list[AccountState]] = {}
    counts: dict[str, Counter[tuple[str, str, str]]] = {}
    for project, platform, kind, key, status, expires_at in rows:
        accounts.setdefault(project, []).append(
            AccountState(
                label(project),
                label(platform),
                label(kind),
                label(key),
                status if status in known.get(kind, ()) else UNKNOWN_STATE,
                expires_at,
                changes.get((project, kind, key)),
            )
        )
        counts.setdefault(project, Counter())[(label(platform), label(kind), label(status))] += 1
    result = {}
    for project, listed in accounts.items():
        listed.sort(key=lambda a: (a.kind, a.account))
        rollup = sorted((*key, n) for key, n in counts[project].items())
        result[project] = (listed, rollup)
    return result


def read_store(store: Store, profile: str, cache: ProjectCache | None = None) -> Reading:
    """One consistent reading of the store for a scrape; a store that cannot be read gives
    a reading with `store_ok` false (exposed as `layers_up 0`), never an exception. With a
    `cache`, only projects saved since its last use are read again."""
    reading = Reading(profile=profile)
    try:
        with store.read_snapshot():
            reading.groups = (cache or ProjectCache()).update(store)
            _read_flows_and_meta(reading, store)
    except (sqlite3.Error, ValueError, TypeError) as error:
        log.warning("metrics: cannot read the store %s: %s", store.path, error)
        if cache is not None:
            cache.groups.clear()
        return Reading(profile=profile)
    reading.store_ok = True
    return reading


def _read_flows_and_meta(reading: Reading, store: Store) -> None:
    for document in store.flow_documents():
        status = document.get("status")
        kind = document.get("kind")
        if status in FLOW_STATUSES:
            reading.flows[(label(kind), status)] += 1
    for entry in store.journal():
        kind, _, outcome = entry.action.partition(":")
        if outcome in FLOW_STATUSES and outcome != "pending":
            reading.outcomes[(label(kind), outcome)] += 1
    tier = store.get_meta("tier")
    reading.tier = label(tier) if tier else None


def open_readonly(path: Path) -> Store:
    """The store at `path` through a read-only connection: a scraper never creates,
    migrates or moves aside the store the refresh loop owns. Raises sqlite3.Error."""
    from layers_tui.session.store import BUSY_TIMEOUT_MS, Store

    connection = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro",
        uri=True,
        isolation_level=None,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
    )
    return Store(connection, path)


# -- the families --------------------------------------------------------------------------
@dataclass
class Family:
    """One metric family, neutral between prometheus-client's objects and the fast text."""

    name: str
    kind: str  # gauge | counter | stateset | info
    help: str
    labels: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], Any]] = field(default_factory=list)
    states: dict[str, tuple[str, ...]] | None = None  # stateset: kind -> its states

    def add(self, values: tuple[str, ...], value: Any) -> None:
        self.samples.append((values, value))


def families(reading: Reading, with_groups: bool = True) -> list[Family]:
    """The exposition of one reading, in order; names follow Prometheus conventions (base
    units, `_timestamp_seconds` for times, `_total` only on counters)."""
    profile = (reading.profile,)
    out: list[Family] = []

    build = Family(
        f"{PREFIX}build", "info", "Version of layers-tui serving these metrics.",
        ("version", "python_version"),
    )  # fmt: skip
    build.add((__version__, _platform.python_version()), 1)
    out.append(build)

    up = Family(
        f"{PREFIX}up",
        "gauge",
        "1 when the local store was read and refreshes work (not every project failing).",
        ("profile",),
    )
    up.add(profile, 1 if reading.up else 0)
    out.append(up)

    for name, text, value in (
        (
            "last_refresh_success_timestamp_seconds",
            "When a project was last refreshed successfully (the most recent one).",
            reading.last_refresh,
        ),
        (
            "oldest_refresh_success_timestamp_seconds",
            "The stalest project's last successful refresh (absent while one was never refreshed).",
            reading.oldest_refresh,
        ),
        (
            "refresh_duration_seconds",
            "How long the last full refresh pass took (served by watch only).",
            reading.refresh_duration,
        ),
    ):
        gauge = Family(f"{PREFIX}{name}", "gauge", text, ("profile",))
        if value is not None:  # absent rather than a made-up value
            gauge.add(profile, value)
        out.append(gauge)

    tier = Family(
        f"{PREFIX}rate_limit_tier", "info", "The API key's rate-limit tier (from whoami).",
        ("profile", "tier"),
    )  # fmt: skip
    if reading.tier:
        tier.add((reading.profile, reading.tier), 1)
    out.append(tier)

    remaining = Family(
        f"{PREFIX}rate_limit_remaining",
        "gauge",
        "Requests left in the rate-limit window, as the API last said (served by watch only).",
        ("profile", "bucket"),
    )
    limit = Family(
        f"{PREFIX}rate_limit_window_requests",
        "gauge",
        "Requests allowed per rate-limit window, as the API last said (watch only).",
        ("profile", "bucket"),
    )
    for bucket, bucket_limit, bucket_remaining in reading.rate_limits:
        if bucket_remaining is not None:
            remaining.add((reading.profile, bucket), bucket_remaining)
        if bucket_limit is not None:
            limit.add((reading.profile, bucket), bucket_limit)
    out += [remaining, limit]

    requests = Family(
        f"{PREFIX}api_requests",
        "counter",
        "Layers API requests made by this process, by endpoint and HTTP status.",
        ("endpoint", "method", "code"),
    )
    for key in sorted(reading.requests):
        requests.add(key, reading.requests[key])
    out.append(requests)

    for name, text, value in (
        (
            "metrics_produced_timestamp_seconds",
            "When this exposition was produced from the store (watch serves the latest one; "
            "its age is time() minus this).",
            reading.produced_at,
        ),
        (
            "metrics_production_duration_seconds",
            "How long producing the previous exposition took (watch only).",
            reading.production_seconds,
        ),
    ):
        if value is not None:  # a textfile is produced when written: its mtime says so
            gauge = Family(f"{PREFIX}{name}", "gauge", text, ("profile",))
            gauge.add(profile, value)
            out.append(gauge)

    per_project = _project_families()
    if with_groups:
        for group in reading.groups:
            _fill_project(per_project, group)
    out += per_project

    flows = Family(
        f"{PREFIX}flows",
        "gauge",
        "Connect, reauth and ads flows in the store by status (finished ones are kept 24 h).",
        ("kind", "status"),
    )
    every_flow = {(kind, status) for kind in FLOW_KINDS for status in FLOW_STATUSES}
    for key in sorted(every_flow | set(reading.flows)):
        flows.add(key, reading.flows.get(key, 0))
    out.append(flows)

    outcomes = Family(
        f"{PREFIX}flow_outcomes",
        "counter",
        "Finished connect and reauth flows by outcome, from the operator journal.",
        ("kind", "outcome"),
    )
    for key in sorted(reading.outcomes):
        outcomes.add(key, reading.outcomes[key])
    out.append(outcomes)
    return out


PROJECT_FAMILIES = (
    f"{PREFIX}project_up",
    f"{PREFIX}project_last_refresh_success_timestamp_seconds",
    f"{PREFIX}account_status",
    f"{PREFIX}account_token_expiry_timestamp_seconds",
    f"{PREFIX}account_status_change_timestamp_seconds",
    f"{PREFIX}accounts",
)


def _project_families() -> list[Family]:
    """The families with a series per project or per account, empty."""
    project_up, last, status, expiry, changed, counts = PROJECT_FAMILIES
    return [
        Family(
            project_up,
            "gauge",
            "1 when the project's latest refresh succeeded, 0 when it failed.",
            ("project",),
        ),
        Family(
            last,
            "gauge",
            "When the project was last refreshed successfully.",
            ("project",),
        ),
        Family(
            status,
            "stateset",
            "Each account's status as the API reports it: 1 for the current one, 0 for the others.",
            ACCOUNT_LABELS,
            states=ACCOUNT_STATES,
        ),
        Family(
            expiry,
            "gauge",
            "When the account's token expires (absent when the API gives no expiry).",
            ACCOUNT_LABELS,
        ),
        Family(
            changed,
            "gauge",
            "When the account's status last changed (absent when no change is recorded).",
            ACCOUNT_LABELS,
        ),
        Family(
            counts,
            "gauge",
            "Accounts by project, platform, kind and status.",
            ("project", "platform", "kind", "status"),
        ),
    ]


def _fill_project(per_project: list[Family], group: ProjectGroup) -> None:
    project_up, last, status, expiry, changed, counts = per_project
    project = group.state
    if project.attempted_at is not None:
        project_up.add((project.project,), 0 if project.failed else 1)
    if project.refreshed_at is not None:
        last.add((project.project,), project.refreshed_at)
    for account in group.accounts:
        values = (account.project, account.platform, account.kind, account.account)
        status.add(values, account.status)
        if account.expires_at is not None:
            expiry.add(values, account.expires_at)
        if account.changed_at is not None:
            changed.add(values, account.changed_at)
    for platform, kind, state, count in group.counts:
        counts.add((project.project, platform, kind, state), count)


def to_metric(family: Family) -> Metric:
    """The family as prometheus-client's custom-collector object."""
    name = family.name
    if family.kind == "counter":
        metric: Any = CounterMetricFamily(name, family.help, labels=family.labels)
        for values, value in family.samples:
            metric.add_metric(values, value)
    elif family.kind == "info":
        metric = InfoMetricFamily(name, family.help, labels=())
        for values, _ in family.samples:
            metric.add_metric([], dict(zip(family.labels, values, strict=True)))
    elif family.kind == "stateset":
        assert family.states is not None
        metric = StateSetMetricFamily(name, family.help, labels=family.labels)
        kind_at = family.labels.index("kind")
        for values, current in family.samples:
            states = family.states.get(values[kind_at], (current,))
            metric.add_metric(values, {state: state == current for state in states})
    else:
        metric = GaugeMetricFamily(name, family.help, labels=family.labels)
        for values, value in family.samples:
            metric.add_metric(values, value)
    return metric


def collect_metrics(reading: Reading) -> list[Metric]:
    """The reading as prometheus-client's objects, in exposition order. The per-project
    families take each project's samples from `ProjectGroup.metrics` (built once per save
    of that project), the rest are built now; the same objects `to_metric` gives."""
    out = []
    for family in families(reading, with_groups=False):
        metric = to_metric(family)
        if family.name in PROJECT_FAMILIES:
            index = PROJECT_FAMILIES.index(family.name)
            for group in reading.groups:
                metric.samples.extend(group.metrics()[index].samples)
        out.append(metric)
    return out


class StoreCollector(Collector):
    """A custom collector: every `collect()` reads the store (never the API)."""

    def __init__(self, read: Callable[[], Reading]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        return collect_metrics(self._read())

    def describe(self) -> Iterable[Metric]:
        return []  # registration must not read the store


def render(reading: Reading) -> bytes:
    """The exposition of one reading, as prometheus-client writes it (`generate_latest`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(lambda: reading))
    return generate_latest(registry)


# -- watch --metrics -----------------------------------------------------------------------
class SessionReader:
    """Readings for a running session: the store through a connection of its own (the
    session's is busy on the event loop), plus what only the running process knows."""

    def __init__(self, session: Session, requests: RequestCounter | None = None) -> None:
        self.session = session
        self.requests = requests if requests is not None else session.requests
        self.profile = session.profile or "default"
        self._lock = threading.Lock()
        self._own: Store | None = None
        self.cache = ProjectCache()
        self._closed = False
        self._pass_started: float | None = None
        self.refresh_duration: float | None = None
        self.listing_failed = False
        session.inventory.listeners.append(self.on_event)

    def on_event(self, event: InventoryEvent) -> None:
        """Times full passes and notes a failed listing (called on the event loop)."""
        from layers_tui.session.inventory import ListingFailed, ProgressUpdated, ProjectsUpdated

        if isinstance(event, ListingFailed):
            self.listing_failed = True
        elif isinstance(event, ProjectsUpdated):
            self.listing_failed = False
        elif isinstance(event, ProgressUpdated):
            progress = event.progress
            now = self.session.clock.monotonic()
            if progress.running and progress.done == 0:
                self._pass_started = now
            elif not progress.running and self._pass_started is not None:
                if progress.total:
                    self.refresh_duration = now - self._pass_started
                self._pass_started = None

    def _store(self) -> Store:
        if self.session.store.path is None:
            return self.session.store  # in memory: only the session's connection sees it
        if self._own is None:
            self._own = open_readonly(self.session.store.path)
        return self._own

    def read(self) -> Reading:
        with self._lock:
            if self._closed:
                return Reading(profile=self.profile)
            try:
                store = self._store()
            except Exception as error:  # StoreError, sqlite3 errors: exposed as layers_up 0
                log.warning("metrics: cannot open the store: %s", error)
                reading = Reading(profile=self.profile)
            else:
                reading = read_store(store, self.profile, self.cache)
        reading.refresh_duration = self.refresh_duration
        reading.listing_failed = self.listing_failed
        reading.rate_limits = sorted(
            (label(info.bucket), info.limit, info.remaining)
            for info in list(self.session.client.rate_limits.values())
        )
        if self.requests is not None:
            reading.requests = self.requests.counts()
        return reading

    def marks(self) -> tuple[Any, ...]:
        """A cheap fingerprint of everything a reading shows: it moves when the store saved
        a project, a flow, a journal entry or the tier (by any process; not on lease
        renewals), or when this process made a request or timed a pass."""
        with self._lock:
            try:
                stored: Any = None if self._closed else self._store().metrics_marks()
            except Exception as error:  # the reading itself will say what is wrong
                stored = repr(error)
        limits = tuple(
            sorted((i.bucket, i.remaining) for i in list(self.session.client.rate_limits.values()))
        )
        requests = sum(self.requests.counts().values())
        return (stored, limits, requests, self.listing_failed, self.refresh_duration)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._own is not None:
                self._own.close()
                self._own = None


# A scrape sends the latest exposition prometheus-client produced; producing one for a large
# organisation takes seconds (2,000 x 20 accounts: 250,000 samples), so it happens in a
# thread of its own when what the metrics show has changed, never while a scraper waits.
POLL_SECONDS = 2.0  # how often the producer looks for a change (one cheap query)
QUIET_SECONDS = 1.0  # changes are gathered until the store has been quiet this long
MAX_DELAY_SECONDS = 15.0  # ... but a change waits no longer than this to be shown
BUSY_SHARE = 0.25  # producing takes at most this share of a core while the store changes
FIRST_WAIT_SECONDS = 60.0  # a scrape before the first exposition waits this long for it


@dataclass
class Produced:
    """One exposition as prometheus-client wrote it, and when."""

    body: bytes
    produced_at: float  # wall clock
    seconds: float  # how long producing it took
    _gzipped: bytes | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def gzipped(self) -> bytes:
        """The body gzip-compressed (once per exposition, by whoever asks first)."""
        with self._lock:
            if self._gzipped is None:
                self._gzipped = gzip.compress(self.body, compresslevel=GZIP_LEVEL)
            return self._gzipped


GZIP_LEVEL = 6


class ExpositionProducer:
    """Produces the exposition (prometheus-client's `generate_latest` of the store
    collector) when what it shows has changed, and keeps the latest for scrapes.

    `step()` is one turn: note a change (`SessionReader.marks`), produce when due. A change
    is produced once the marks were quiet for `quiet` seconds or `max_delay` after it was
    first seen, and no sooner after the previous production than keeps producing under
    `busy_share` of a core. `run()` turns it every `poll` seconds in a thread until
    `stop()`."""

    def __init__(
        self,
        reader: SessionReader,
        *,
        poll: float = POLL_SECONDS,
        quiet: float = QUIET_SECONDS,
        max_delay: float = MAX_DELAY_SECONDS,
        busy_share: float = BUSY_SHARE,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.reader = reader
        self.poll = poll
        self.quiet = quiet
        self.max_delay = max_delay
        self.busy_share = busy_share
        self.monotonic = monotonic
        self.wall = wall
        self.gzip_wanted = False
        self.produced_count = 0
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(self._reading))
        self._latest: Produced | None = None
        self._ready = threading.Condition()
        self._stopped = threading.Event()
        self._seen: tuple[Any, ...] | None = None  # marks at the last step
        self._produced: tuple[Any, ...] | None = None  # marks of the latest exposition
        self._changed_at = 0.0  # monotonic: the marks last moved
        self._pending_since: float | None = None  # monotonic: the first unshown change
        self._finished_at = -math.inf
        self._producing_at = 0.0

    def _reading(self) -> Reading:
        reading = self.reader.read()
        reading.produced_at = self._producing_at
        if self._latest is not None:
            reading.production_seconds = self._latest.seconds
        return reading

    def produce(self) -> Produced:
        """Produce an exposition now and make it the latest."""
        marks = self.reader.marks()
        started = self.monotonic()
        self._producing_at = self.wall()
        body = generate_latest(self.registry)
        produced = Produced(body, self._producing_at, self.monotonic() - started)
        if self.gzip_wanted:
            produced.gzipped()  # here, not on the scrape that asks
        self._finished_at = self.monotonic()
        self._produced = self._seen = marks
        self._pending_since = None
        self.produced_count += 1
        with self._ready:
            self._latest = produced
            self._ready.notify_all()
        return produced

    def step(self) -> Produced | None:
        """Note a change and produce when due; the new exposition, or None."""
        if self._latest is None:
            return self.produce()
        now = self.monotonic()
        marks = self.reader.marks()
        if marks != self._seen:
            self._seen, self._changed_at = marks, now
            if self._pending_since is None and marks != self._produced:
                self._pending_since = now
        if self._pending_since is None or self._seen == self._produced:
            self._pending_since = None
            return None
        settled = now - self._changed_at >= self.quiet
        overdue = now - self._pending_since >= self.max_delay
        rest = self._latest.seconds * (1 / self.busy_share - 1)
        if (settled or overdue) and now - self._finished_at >= rest:
            return self.produce()
        return None

    def latest(self, timeout: float) -> Produced | None:
        """The latest exposition; before the first, wait up to `timeout` seconds for it."""
        with self._ready:
            self._ready.wait_for(lambda: self._latest is not None, timeout)
            return self._latest

    def run(self) -> None:
        """Turn `step` until `stop()`; a failure is logged and tried again next turn."""
        while not self._stopped.is_set():
            try:
                self.step()
            except Exception as error:  # never fatal: the previous exposition stays served
                log.warning("metrics: producing the exposition failed: %s", error)
            self._stopped.wait(self.poll)

    def stop(self) -> None:
        self._stopped.set()


def scrape_app(producer: ExpositionProducer, first_wait: float = FIRST_WAIT_SECONDS) -> Any:
    """The WSGI app of `/metrics`: the producer's latest exposition (gzip when asked), in
    the text format prometheus-client wrote it in. It never reads the store or the API."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") == "/favicon.ico":
            start_response("200 OK", [])
            return [b""]
        produced = producer.latest(first_wait)
        if produced is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"metrics are still being produced; try again\n"]
        headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)]
        body = produced.body
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            producer.gzip_wanted = True
            body = produced.gzipped()
            headers.append(("Content-Encoding", "gzip"))
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


@dataclass
class MetricsServer:
    """A running `/metrics` endpoint and its producer; `close()` stops both."""

    httpd: Any
    thread: threading.Thread
    reader: SessionReader
    producer: ExpositionProducer
    producer_thread: threading.Thread

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        self.producer.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        self.producer_thread.join(timeout=30)  # a production in progress finishes first
        self.reader.close()


def parse_address(address: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:9464` for IPv6; `:9464` means 127.0.0.1) -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT, got {address!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def serve(
    address: str | tuple[str, int],
    session: Session,
    requests: RequestCounter | None = None,
    *,
    poll: float = POLL_SECONDS,
) -> MetricsServer:
    """Serve `/metrics` for `session` on `address` ("HOST:PORT") in a background thread.

    A producer thread writes the exposition with prometheus-client from the session's store
    (through its own SQLite connection, never the API) when it changed, plus what only the
    running session knows (pass duration, a failed listing, rate-limit headers, requests by
    endpoint: `session.requests` unless `requests` is given); a scrape sends the latest one
    at once (the first scrape waits for the first). Port 0 picks a free port (see
    `MetricsServer.address`). Raises OSError when the address cannot be bound, ValueError
    when it does not parse."""
    host, port = parse_address(address) if isinstance(address, str) else address
    reader = SessionReader(session, requests)
    producer = ExpositionProducer(reader, poll=poll)

    class Server(ThreadingWSGIServer):
        address_family = _family(host)

    try:
        httpd = make_server(host, port, scrape_app(producer), Server, handler_class=_QuietHandler)
    except BaseException:
        reader.close()
        raise
    thread = threading.Thread(target=httpd.serve_forever, name="layers-metrics", daemon=True)
    thread.start()
    producing = threading.Thread(target=producer.run, name="layers-metrics-produce", daemon=True)
    producing.start()
    return MetricsServer(httpd, thread, reader, producer, producing)


def _family(host: str) -> int:
    import socket

    return socket.AF_INET6 if ":" in host else socket.AF_INET


# -- layers-tui metrics --textfile PATH ----------------------------------------------------
def registry_for(store: Store | None, profile: str) -> CollectorRegistry:
    """A private registry whose collector reads `store` at each collection (None: a store
    that does not exist yet, exposed as `layers_up 0`)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        StoreCollector(
            lambda: read_store(store, profile) if store is not None else Reading(profile)
        )
    )
    return registry


def write_textfile(path: Path, store: Store | None, profile: str) -> None:
    """Write the exposition to `path` atomically (a temporary file in the same directory,
    then a rename), as node_exporter's textfile collector expects."""
    write_to_textfile(str(path), registry_for(store, profile))


def run_metrics_command(args: argparse.Namespace) -> int:
    """`layers-tui metrics --textfile PATH`: write the metrics of the current profile's store
    for node_exporter's textfile collector (PATH should end in `.prom`). Reads only the
    local store, never the API; a missing or unreadable store is written as `layers_up 0`.
    Returns 0 when the file was written, 2 on a configuration or write error."""
    from layers_tui import paths
    from layers_tui.api import key_id
    from layers_tui.config import ConfigError, load_settings

    textfile = Path(args.textfile)
    demo = bool(getattr(args, "demo", False))
    flags: dict[str, Any] = {
        "profile": getattr(args, "profile", None),
        "base_url": getattr(args, "base_url", None),
    }
    try:
        if demo:
            settings = load_settings({**flags, "demo": True}, {}, None, None).settings
        else:
            settings = load_settings(
                flags, os.environ, getattr(args, "config", None), paths.default_config_file()
            ).settings
    except ConfigError as error:
        sys.stderr.write(f"layers-tui metrics: config error: {error}\n")
        return 2
    kid = key_id(settings.api_key)
    if not demo and kid is None:
        sys.stderr.write("layers-tui metrics: no API key, so no store to read (see doctor)\n")
        return 2
    store_path = paths.store_path(settings.base_url, kid, demo)
    profile = label(settings.profile or "default")
    store: Store | None = None
    if store_path.exists():
        try:
            store = open_readonly(store_path)
        except sqlite3.Error as error:
            log.warning("metrics: cannot open %s: %s", store_path, error)
    try:
        write_textfile(textfile, store, profile)
    except OSError as error:
        sys.stderr.write(
            f"layers-tui metrics: cannot write {textfile}: {error.strerror or error}\n"
        )
        return 2
    finally:
        if store is not None:
            store.close()
    return 0

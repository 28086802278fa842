"""The organisation's projects and accounts, kept in the store and refreshed within budget.

One refresh loop per key across every process on the machine (the store's lease): the
holder lists projects and refreshes them in priority order (the project on screen, then
projects with problems or the soonest expiry, then the least recently refreshed); everyone
else follows what the holder writes. A single-project refresh never ends a full pass, one
project's failure stays with that project, and the last good data is kept with its error.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from layers_tui.api import ApiError, LayersClient
from layers_tui.api.paging import fan_out
from layers_tui.clock import Clock
from layers_tui.domain.status import Severity, Thresholds, ad_row, social_row, span
from layers_tui.flows.budget import RequestBudget
from layers_tui.inventory import (
    ProjectSnapshot,
    as_api_error,
    load_project,
    load_projects,
    split_duplicates,
)
from layers_tui.models import AdAccount, InvalidItem, Project, SocialAccount

from .store import (
    Change,
    ProjectRecord,
    Store,
    StoredAccount,
    arrays_hash,
    documents_hash,
    epoch,
    from_epoch,
)

log = logging.getLogger("layers_tui.session")

LEASE_TTL = 30.0  # a refresher that dies is replaced within this (at once on this machine)
FOLLOW_SECONDS = 1.0  # how often a process without the lease looks for news in the store
PROGRESS_META = "refresh_progress"  # the holder's pass, for followers (JSON)
PROGRESS_EVERY = 2.0  # seconds between the holder's progress writes (and at a pass's end)
REQUESTS_PER_PROJECT = 2  # one social page and the ad list for a typical project


@dataclass(frozen=True)
class Progress:
    """Where a refresh pass is: "refreshed N of M projects, about T left"."""

    running: bool = False
    done: int = 0
    total: int = 0
    failed: int = 0
    eta_seconds: float | None = None
    note: str = ""  # why a pass is slower than it could be (the request budget)
    fresh: int = 0  # projects this pass leaves alone: their data is recent enough

    def describe(self, verb: str = "refreshed", short: bool = False) -> str:
        """ "refreshed 120 of 500 projects (2 failed), about 4 min left; <note>". `short`:
        in the status line's fewer words, "refreshing 120 of 500 (2 failed), ~4 min left",
        without the note (the status line words it apart)."""
        line = f"{verb} {self.done} of {self.total}" + ("" if short else " projects")
        if self.fresh:
            line += f" due ({self.fresh} {'fresh' if short else 'still fresh'})"
        if self.failed:
            line += f" ({self.failed} failed)"
        if self.running and self.done < self.total and self.eta_seconds is not None:
            line += f", {'~' if short else 'about '}{span(self.eta_seconds)} left"
        if self.note and not short:
            line += f"; {self.note}"
        return line


@dataclass(frozen=True)
class ProjectsUpdated:
    projects: tuple[Project, ...]


@dataclass(frozen=True)
class ProjectUpdated:
    snapshot: ProjectSnapshot


@dataclass(frozen=True)
class ProgressUpdated:
    progress: Progress


@dataclass(frozen=True)
class HolderProgress:
    """Where the lease holder's pass is (another process), as it wrote it to the store:
    for a follower's status line. Not this process's pass (`ProgressUpdated`)."""

    progress: Progress


@dataclass(frozen=True)
class ListingFailed:
    error: ApiError


@dataclass(frozen=True)
class StatusChanged:
    changes: tuple[Change, ...]


InventoryEvent = (
    ProjectsUpdated
    | ProjectUpdated
    | ProgressUpdated
    | HolderProgress
    | ListingFailed
    | StatusChanged
)
Listener = Callable[[InventoryEvent], None]


@dataclass
class PassResult:
    refreshed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not reached within the deadline
    listing_error: ApiError | None = None


def error_record(error: ApiError) -> dict[str, Any]:
    return {
        "status": error.status,
        "code": error.code,
        "message": error.message,
        "requestId": error.request_id,
    }


def error_from_record(record: dict[str, Any] | None) -> ApiError | None:
    if not record:
        return None
    status = record.get("status")
    return ApiError(
        status if isinstance(status, int) else None,
        str(record.get("code") or "ERROR"),
        str(record.get("message") or ""),
        record.get("requestId") if isinstance(record.get("requestId"), str) else None,
    )


SOCIAL_LIST = TypeAdapter(list[SocialAccount])
AD_LIST = TypeAdapter(list[AdAccount])


def snapshot_from_store(
    record: ProjectRecord, accounts: Sequence[tuple[str, dict]]
) -> ProjectSnapshot:
    """A project as the store has it, in the shape the faces draw."""
    social = tuple(SocialAccount.model_validate(doc) for kind, doc in accounts if kind == "social")
    ads = tuple(AdAccount.model_validate(doc) for kind, doc in accounts if kind == "ad")
    return _snapshot(record, social, ads)


def snapshot_from_arrays(
    record: ProjectRecord, arrays: dict[str, str], project: Project | None = None
) -> ProjectSnapshot:
    """As `snapshot_from_store`, from the store's JSON arrays: pydantic parses and validates
    each array in one pass (about twice as fast as json.loads plus model_validate).
    `project`: the record's document already validated."""
    social = tuple(SOCIAL_LIST.validate_json(arrays["social"])) if "social" in arrays else ()
    ads = tuple(AD_LIST.validate_json(arrays["ad"])) if "ad" in arrays else ()
    return _snapshot(record, social, ads, project).with_documents_hash(arrays_hash(arrays))


@dataclass(frozen=True)
class StartPreview:
    """The first screen of a large store, read without parsing every account: every project,
    its accounts' counts by severity as their last save decided them, and partial snapshots
    holding only the worst accounts (`Inventory.load_preview`)."""

    projects: list[Project]
    counts: dict[str, dict[int, int]]  # project id -> severity -> accounts
    loaded: set[str]  # projects fetched (or failed) at least once
    failed: set[str]  # ... whose last fetch failed
    snapshots: list[ProjectSnapshot]
    samples: list[ProjectSnapshot]  # an account of each saved state: every status label
    accounts: int  # in the whole store


@contextlib.contextmanager
def bulk_load() -> Iterator[None]:
    """For making many long-lived objects at once (every project of the store, every row of
    the dashboard): the cyclic garbage collector is paused meanwhile, and what exists
    afterwards is frozen out of its passes (`gc.freeze`). Otherwise its full passes walk
    every new object again and again as the heap grows: about a third of the CPU time of
    loading 40,000 accounts. What is made here holds no reference cycles: reference
    counting frees it when it is dropped."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _snapshot(
    record: ProjectRecord,
    social: tuple[SocialAccount, ...],
    ads: tuple[AdAccount, ...],
    project: Project | None = None,
) -> ProjectSnapshot:
    project = project or Project.model_validate(record.doc)
    invalid = tuple(
        InvalidItem(raw=item.get("raw"), problem=str(item.get("problem", "")))
        for item in record.invalid
    )
    return ProjectSnapshot(
        project,
        social,
        ads,
        invalid,
        error_from_record(record.error),
        from_epoch(record.refreshed_at),
    )


def stored_accounts(
    snapshot: ProjectSnapshot, now: datetime, thresholds: Thresholds
) -> list[StoredAccount]:
    """What the store keeps of a freshly fetched project: documents as sent, plus the
    columns check and metrics aggregate on (decided by the domain rules)."""
    accounts: list[StoredAccount] = []
    for social in snapshot.social:
        row = social_row(social, snapshot.project, now, thresholds)
        accounts.append(
            StoredAccount(
                "social",
                row.key,
                row.platform,
                row.name,
                row.status,
                int(row.severity),
                epoch(row.token_expires_at),
                row.leased,
                _document(social),
            )
        )
    for ad in snapshot.ads:
        row = ad_row(ad, snapshot.project)
        accounts.append(
            StoredAccount(
                "ad",
                row.key,
                row.platform,
                row.name,
                row.status,
                int(row.severity),
                None,
                False,
                _document(ad),
            )
        )
    return accounts


def _document(model: SocialAccount | AdAccount | Project) -> dict[str, Any]:
    """The fields the API sent (unknown ones included), not our defaults."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Inventory:
    """Projects and accounts in the store, and the one refresh loop that keeps them fresh."""

    def __init__(
        self,
        client: LayersClient,
        store: Store,
        budget: RequestBudget,
        clock: Clock,
        *,
        thresholds: Thresholds | None = None,
        concurrency: int = 8,
        refresh_interval: float = 60.0,
        listener: Listener | None = None,
        holder_id: str | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = store
        self.budget = budget
        self.clock = clock
        self.thresholds = thresholds or Thresholds()
        self.concurrency = max(1, concurrency)
        self.refresh_interval = refresh_interval
        self.listeners: list[Listener] = [listener] if listener else []
        self.holder_id = holder_id or uuid.uuid4().hex
        self._wall = wall
        self.projects: list[Project] = []
        self.duplicates: list[Project] = []  # listed twice: shown once, reported
        self.focus_project: str | None = None
        self.flow_projects: Callable[[], Iterable[str]] = lambda: ()
        self.progress = Progress()
        self.plan_reason = ""
        self.is_holder = False
        self._pass_running = False
        self._in_flight: set[str] = set()
        self._landed = asyncio.Event()  # set whenever an in-flight fetch ends
        self._saves = 0  # successful project saves by this process, numbered
        self._last_refresh: dict[str, int] = {}  # project id -> number of its last save
        self._requested: list[str] = []
        self._wake = asyncio.Event()
        self._seen_seq = 0
        self._seen_history: int | None = None  # history ids up to this one were told
        self._lease_renewed = -math.inf
        self._progress_written = -math.inf
        self._holder_progress: Progress | None = None  # the last one told (following)

    # -- reading -----------------------------------------------------------------------------
    def _emit(self, event: InventoryEvent) -> None:
        for listener in self.listeners:
            listener(event)

    def load_cached(self) -> list[ProjectSnapshot]:
        """Everything the store has, for an instant start: every project listed, and a
        snapshot of each one fetched (or failed) at least once."""
        with bulk_load():
            records = self.store.projects()
            self.projects = [Project.model_validate(record.doc) for record in records]
            arrays = self.store.account_arrays()
            self._seen_seq = max((record.seq for record in records), default=0)
            # A project listed but never fetched (a pass cut short) has no snapshot: the
            # faces show it as not loaded yet, not as a project without accounts.
            return [
                snapshot_from_arrays(record, arrays.get(record.id, {}), project)
                for record, project in zip(records, self.projects, strict=True)
                if record.refreshed_at is not None or record.error is not None
            ]

    def load_preview(self, worst: int) -> StartPreview:
        """What a first screen needs of a large store, in tens of milliseconds: the projects,
        their counts (SQL over the saved severities) and the `worst` accounts, worst first
        (SQL, as the dashboard's default order has them). `load_cached` follows with
        everything."""
        records = self.store.projects()
        self.projects = [Project.model_validate(record.doc) for record in records]
        self._seen_seq = max((record.seq for record in records), default=0)
        by_id = {r.id: (r, p) for r, p in zip(records, self.projects, strict=True)}

        def snapshots(accounts: list[tuple[str, str, dict[str, Any]]]) -> list[ProjectSnapshot]:
            """Partial snapshots holding these accounts only."""
            picked: dict[str, tuple[list[SocialAccount], list[AdAccount]]] = {}
            for project_id, kind, doc in accounts:
                social, ads = picked.setdefault(project_id, ([], []))
                if kind == "social":
                    social.append(SocialAccount.model_validate(doc))
                else:
                    ads.append(AdAccount.model_validate(doc))
            return [
                _snapshot(by_id[project_id][0], tuple(social), tuple(ads), by_id[project_id][1])
                for project_id, (social, ads) in picked.items()
                if project_id in by_id
            ]

        return StartPreview(
            projects=self.projects,
            counts=self.store.severity_counts_by_project(),
            loaded={r.id for r in records if r.refreshed_at is not None or r.error is not None},
            failed={record.id for record in records if record.error is not None},
            snapshots=snapshots(self.store.worst_accounts(worst)),
            samples=snapshots(self.store.account_samples()),
            accounts=self.store.account_count(),
        )

    def follow(self) -> int:
        """Emit what other processes wrote since we last looked (their projects and the
        status changes they recorded); returns how many projects."""
        if self._seen_history is None:
            self._seen_history = self.store.last_history_id()  # news from now on
        self._follow_progress()
        records = self.store.changed_projects(self._seen_seq)
        if not records:
            return 0
        self._seen_history, changes = self.store.history_after(self._seen_history)
        if changes:
            self._emit(StatusChanged(tuple(changes)))
        listed = [Project.model_validate(record.doc) for record in self.store.projects()]
        if [p.id for p in listed] != [p.id for p in self.projects]:
            self.projects = listed
            self._emit(ProjectsUpdated(tuple(listed)))
        # As the store's arrays, like a start: each snapshot with its documents hash, so the
        # board knows an unchanged project without comparing its account models.
        arrays = self.store.account_arrays([record.id for record in records])
        for record in records:
            self._seen_seq = max(self._seen_seq, record.seq)
            self._emit(ProjectUpdated(snapshot_from_arrays(record, arrays.get(record.id, {}))))
        return len(records)

    @property
    def pass_running(self) -> bool:
        """A full pass is under way (a single project's refresh does not count)."""
        return self._pass_running

    # -- refreshing --------------------------------------------------------------------------
    def _priority(self, project: Project, records: dict[str, ProjectRecord], now: float) -> tuple:
        flows = set(self.flow_projects())
        record = records.get(project.id)
        refreshed = record.refreshed_at if record and record.refreshed_at else 0.0
        return (
            project.id not in flows,
            project.id != self.focus_project,
            refreshed > 0,  # a project with no data at all: nothing is known about it
            not self._has_problems(project.id),
            refreshed,
        )

    def _has_problems(self, project_id: str) -> bool:
        return (
            self.store.count_where(
                "severity >= ?", (int(Severity.WARNING),), project_ids=[project_id]
            )
            > 0
        )

    async def list_projects(self) -> list[Project]:
        await self.budget.acquire("visible")
        projects, self.duplicates = split_duplicates(await load_projects(self.client))
        if self.duplicates:
            log.warning(
                "the project list names %d project id(s) twice: %s",
                len(self.duplicates),
                ", ".join(sorted({p.id for p in self.duplicates}))[:300],
            )
        docs = [_document(project) for project in projects]
        self.store.replace_projects(docs, self.clock.now())
        self.projects = projects
        self._emit(ProjectsUpdated(tuple(projects)))
        return projects

    async def refresh(
        self,
        project_ids: Sequence[str] | None = None,
        *,
        max_age: float | None = None,
        deadline: float | None = None,
        relist: bool | None = None,
    ) -> PassResult:
        """One pass: list projects (when asked or stale), then refresh every project older
        than `max_age` in priority order within the budget, until `deadline` (monotonic).
        A pass over everything is skipped when one is already running."""
        result = PassResult()
        full = project_ids is None
        if full and self._pass_running:
            return result
        if full:
            self._pass_running = True
        try:
            listed_at = self.store.projects_listed_at()
            stale_list = listed_at is None or (self.clock.now() - listed_at).total_seconds() >= (
                max_age if max_age is not None else self.refresh_interval
            )
            if full and (relist if relist is not None else stale_list):
                try:
                    await self.list_projects()
                except ApiError as error:
                    result.listing_error = error
                    self._emit(ListingFailed(error))
            read: list[ProjectRecord] | None = None  # the store's projects, read once
            if not self.projects:  # not listed by this process yet: the store's list
                read = self.store.projects()
                self.projects = [Project.model_validate(r.doc) for r in read]
            if project_ids is not None:
                await self._after_fetches_in_flight(project_ids)
                read = None  # others may have saved meanwhile
            records = {record.id: record for record in read or self.store.projects()}
            now = self.clock.now().timestamp()
            wanted = set(project_ids) if project_ids is not None else None
            due = [
                project
                for project in self.projects
                if (wanted is None or project.id in wanted)
                and project.id not in self._in_flight
                and (max_age is None or _age(records.get(project.id), now) >= max_age)
            ]
            due.sort(key=lambda project: self._priority(project, records, now))
            await self._refresh_projects(due, result, deadline, full)
        finally:
            if full:
                self._pass_running = False
        return result

    async def _after_fetches_in_flight(self, project_ids: Sequence[str]) -> None:
        """Projects asked for by name that a fetch is reading right now are read again once
        it lands: it may have started before what the caller knows happened (a completed
        flow) and would leave the old data on screen until the next pass."""
        busy = [project_id for project_id in project_ids if project_id in self._in_flight]
        while any(project_id in self._in_flight for project_id in busy):
            self._landed.clear()
            await self._landed.wait()

    async def refresh_project(self, project_id: str) -> PassResult:
        """One project now (a completed flow, ctrl+r on it): never ends a running pass."""
        return await self.refresh([project_id])

    async def _refresh_projects(
        self, due: list[Project], result: PassResult, deadline: float | None, full: bool
    ) -> None:
        if not due:
            if full:
                self._set_progress(Progress(running=False, done=0, total=0))
            return
        started = self.clock.monotonic()
        done = failed = 0
        mine: set[str] = set()  # in flight because of this pass (others' flags stay)
        first_save = self._saves  # saves numbered after this one happened during the pass
        if full:
            self._set_progress(self._estimate(0, len(due), 0, started))

        def done_elsewhere(project_id: str) -> bool:
            """Another refresh (a single project asked for meanwhile) has it or had it."""
            return (
                project_id in self._in_flight or self._last_refresh.get(project_id, -1) > first_save
            )

        async def fetch(project: Project) -> ProjectSnapshot | None | bool:
            if done_elsewhere(project.id):
                return True
            # Asked for by name (ctrl+r, the project on screen, a completed flow, a check
            # through the store): ahead of the pass's background share of the budget.
            asked = not full or project.id == self.focus_project
            priority = "visible" if asked else "background"
            if deadline is not None:
                wait = self.budget.wait_seconds(priority, REQUESTS_PER_PROJECT)
                if self.clock.monotonic() + wait > deadline:
                    return None
            await self.budget.acquire(priority, cost=REQUESTS_PER_PROJECT)
            if deadline is not None and self.clock.monotonic() > deadline:
                self.budget.refund(REQUESTS_PER_PROJECT)
                return None
            if done_elsewhere(project.id):  # another refresh got it while we waited
                self.budget.refund(REQUESTS_PER_PROJECT)
                return True
            self._in_flight.add(project.id)  # no await since the check: nobody slips in
            mine.add(project.id)
            return await load_project(self.client, project, self.clock.now())

        try:
            async for project, outcome in fan_out(due, fetch, self.concurrency):
                if project.id in mine:
                    self._in_flight.discard(project.id)
                    mine.discard(project.id)
                    self._landed.set()
                if outcome is True:  # refreshed by another request during this pass
                    done += 1
                elif outcome is None:
                    result.skipped.append(project.id)
                    continue
                elif isinstance(outcome, BaseException):
                    error = as_api_error(outcome, f"project {project.id}")
                    self.store.save_project_error(project.id, error_record(error), self.clock.now())
                    result.failed.append(project.id)
                    failed += 1
                    done += 1
                    self._after_save(project.id)
                else:
                    accounts = stored_accounts(outcome, self.clock.now(), self.thresholds)
                    changes = self.store.save_project(
                        project.id,
                        accounts,
                        [{"raw": item.raw, "problem": item.problem} for item in outcome.invalid],
                        self.clock.now(),
                    )
                    outcome = outcome.with_documents_hash(documents_hash(accounts))
                    result.refreshed.append(project.id)
                    self._saves += 1
                    self._last_refresh[project.id] = self._saves
                    if changes:
                        self._emit(StatusChanged(tuple(changes)))
                    self._seen_history = None  # our own news: a later follow starts after it
                    done += 1
                    self._after_save(project.id, outcome)
                if full:
                    self._set_progress(self._estimate(done, len(due), failed, started))
        finally:
            for project_id in mine:
                self._in_flight.discard(project_id)
            self._landed.set()
            if full:
                self._set_progress(
                    Progress(
                        running=False,
                        done=done,
                        total=len(due),
                        failed=failed,
                        fresh=self._fresh(len(due)),
                    )
                )

    def _after_save(self, project_id: str, fetched: ProjectSnapshot | None = None) -> None:
        """Tell the listeners: what was just fetched as it is (no read back), or, after a
        failure, the store's last good data with the error."""
        self._seen_seq = self.store.last_seq()
        if fetched is not None:
            self._emit(ProjectUpdated(fetched))
            return
        record = self.store.project(project_id)
        if record is not None:
            self._emit(ProjectUpdated(snapshot_from_store(record, self.store.accounts(project_id))))

    def _estimate(self, done: int, total: int, failed: int, started: float) -> Progress:
        remaining = total - done
        by_budget = remaining * REQUESTS_PER_PROJECT / max(self.budget.rate, 1e-6)
        elapsed = self.clock.monotonic() - started
        by_pace = remaining * elapsed / done if done >= 5 else 0.0
        eta = max(by_budget, by_pace)
        plan = self.budget.refresh_plan(len(self.projects), self.refresh_interval)
        note = (
            f"limited by the request budget ({self.budget.per_minute} req/min)"
            if by_budget >= by_pace and by_budget > 30
            else plan.reason
        )
        return Progress(True, done, total, failed, eta, note, self._fresh(total))

    def _fresh(self, due: int) -> int:
        return max(0, len(self.projects) - due)

    def _set_progress(self, progress: Progress) -> None:
        self.progress = progress
        self._emit(ProgressUpdated(progress))
        if self.is_holder and (
            not progress.running
            or self.clock.monotonic() - self._progress_written >= PROGRESS_EVERY
        ):
            self._progress_written = self.clock.monotonic()
            record = asdict(progress) | {"at": self._wall()}
            with contextlib.suppress(Exception):  # followers' comfort: never the pass's end
                self.store.set_meta(PROGRESS_META, json.dumps(record))

    def _follow_progress(self) -> None:
        """The holder's pass as it last wrote it: told when it changed; a record older than
        a lease (its writer gone) is a pass no longer running."""
        progress = Progress()
        with contextlib.suppress(Exception):  # unreadable: as if nothing runs
            text = self.store.get_meta(PROGRESS_META)
            if text:
                record = json.loads(text)
                at = record.pop("at", 0.0)
                if self._wall() - at <= LEASE_TTL:
                    progress = Progress(**record)
        if progress != self._holder_progress:
            self._holder_progress = progress
            self._emit(HolderProgress(progress))

    # -- the loop --------------------------------------------------------------------------------
    def request_refresh(self, project_ids: Iterable[str] | None = None) -> None:
        """Ask for a refresh soon: here when we hold the lease, else through the store."""
        ids = list(project_ids) if project_ids is not None else [p.id for p in self.projects]
        if self.is_holder:
            self._requested.extend(i for i in ids if i not in self._requested)
            self._wake.set()
        else:
            self.store.request_refresh(ids, self.clock.now())

    def take_lease(self) -> bool:
        now_mono = self.clock.monotonic()
        if self.is_holder and now_mono - self._lease_renewed < LEASE_TTL / 3:
            return True
        held = self.store.try_lease(self.holder_id, LEASE_TTL, self._wall())
        if held:
            self._lease_renewed = now_mono
        if held != self.is_holder:
            log.info("refresh lease %s", "taken" if held else "held by another process")
        self.is_holder = held
        return held

    def release(self) -> None:
        if self.is_holder:
            with contextlib.suppress(Exception):
                self.store.release_lease(self.holder_id)
            self.is_holder = False

    def next_pass_in(self) -> float:
        plan = self.budget.refresh_plan(len(self.projects), self.refresh_interval)
        self.plan_reason = plan.reason
        return plan.interval

    async def keep_lease(self) -> None:
        """While a long pass runs (a standard-tier pass of a large organisation takes many
        minutes): renew the lease, and serve refreshes other processes ask for (a `check`)
        at once rather than after the pass."""
        side: set[asyncio.Task] = set()
        while True:
            await self.clock.sleep(FOLLOW_SECONDS)
            if not self.is_holder:
                continue
            self.take_lease()  # renews only every LEASE_TTL / 3
            if self._pass_running:
                asked = self.store.take_refresh_requests()
                if asked:
                    task = asyncio.ensure_future(self.refresh(list(dict.fromkeys(asked))))
                    side.add(task)
                    task.add_done_callback(side.discard)

    async def run(self) -> None:
        """Keep the store fresh while this process holds the lease; follow otherwise."""
        next_pass = self.clock.monotonic()
        keeper = asyncio.ensure_future(self.keep_lease())
        try:
            while True:
                self._wake.clear()  # before looking at requests, so none is missed
                if self.take_lease():
                    requested = self._requested + self.store.take_refresh_requests()
                    self._requested = []
                    if requested:
                        await self.refresh(list(dict.fromkeys(requested)))
                    if self.clock.monotonic() >= next_pass:
                        interval = self.next_pass_in()
                        await self.refresh(max_age=interval * 0.9)
                        next_pass = self.clock.monotonic() + self.next_pass_in()
                else:
                    self.follow()
                wait = max(0.0, min(FOLLOW_SECONDS * 5, next_pass - self.clock.monotonic()))
                if not self.is_holder:
                    wait = FOLLOW_SECONDS
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
        finally:
            keeper.cancel()
            self.release()


def _age(record: ProjectRecord | None, now: float) -> float:
    if record is None or record.refreshed_at is None:
        return math.inf
    return now - record.refreshed_at

"""`layers-tui check`: one non-interactive health check with Nagios exit codes and --json.

Exit codes (Nagios plugin guidelines): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. An unreachable
API or a rejected key is CRITICAL with the cause named; bad flags, a bad config, a selection
that matches nothing and any surprise inside layers-tui are UNKNOWN. Every outcome is one
`CheckResult`, printed as text (first line the status line) or as one JSON object.

The check reads the local store (`session/`): it refreshes only projects whose data is older
than `max_age`, within the request budget and a time limit, under the store's refresh lease;
when another layers-tui holds the lease it asks that one through the store for the most
urgent due projects, only as many as the request budget refreshes within the time limit,
and waits for them only when that is every due project (else no wait: the holder refreshes
at that budget anyway). A fresh store costs one whoami and
no list requests. What could not be refreshed is reported stale, with who refreshes the
store (the lease holder's pid and program) or that nobody does; `exit_code` applies the
stale rule (written out for users in `cli.CHECK_EPILOG`, the check --help epilog).

Three parts kept apart: gathering (`gather`: whoami, then `freshen` the store), deciding
(`exit_code`) and reporting (`build_report`, counting in SQL through `session.health`).
"""

from __future__ import annotations

import json
import logging
import math
import socket
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from layers_tui.api import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    InvalidResponseError,
    LayersClient,
    format_error,
)
from layers_tui.check_ranges import PERF_UNITS as PERF_UNITS
from layers_tui.check_ranges import ExpiryRanges, perfdata
from layers_tui.check_ranges import Range as Range
from layers_tui.check_ranges import parse_duration as parse_duration
from layers_tui.check_ranges import parse_range as parse_range
from layers_tui.check_ranges import parse_seconds as parse_seconds
from layers_tui.clock import Clock
from layers_tui.domain.export import row_record
from layers_tui.domain.status import (
    AccountRow,
    Severity,
    Summary,
    Thresholds,
    age,
    relative_time,
    remedy,
    social_row,
    summarize,
)
from layers_tui.flows.budget import RequestBudget
from layers_tui.logs import redact
from layers_tui.models import Project, SocialAccount, WhoAmI
from layers_tui.session.health import (
    HealthReport,
    Selection,
    account_rows,
    health,
    match_projects,
    project_rows,
)
from layers_tui.session.inventory import (
    FOLLOW_SECONDS,
    REQUESTS_PER_PROJECT,
    Inventory,
    InventoryEvent,
    ProjectUpdated,
    error_from_record,
)
from layers_tui.session.store import ProjectRecord, Store, from_epoch
from layers_tui.text import safe, safe_data

if TYPE_CHECKING:
    from layers_tui.session.session import Session

log = logging.getLogger("layers_tui.check")

SCHEMA_VERSION = 1
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
EXIT = {Severity.OK: OK, Severity.OFF: OK, Severity.WARNING: WARNING, Severity.CRITICAL: CRITICAL}
LABEL = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
DEFAULT_MAX_AGE = 600.0  # --max-age: older data is refreshed first
DEFAULT_TIMEOUT = 20.0  # --timeout: what does not fit is reported stale
STALE_LISTED = 10  # never-loaded projects named one by one in the text output
PROBLEMS_LISTED = 25  # problem accounts named one by one in the text output (worst first)


# -- outcomes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """One outcome: its exit code, the text lines (the first is the status line) and the
    JSON object. Both renderings pass every string through `text.safe`."""

    code: int
    lines: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict)

    def render(self, as_json: bool) -> str:
        if as_json:
            payload = {
                "schemaVersion": SCHEMA_VERSION,
                "status": LABEL[self.code],
                "exitCode": self.code,
                **self.data,
            }
            return json.dumps(safe_data(payload), ensure_ascii=True)
        return "\n".join(safe(line, limit=None) for line in self.lines)


def unknown(message: str, code: str) -> CheckResult:
    """UNKNOWN with one line saying why (`code` is the JSON error's machine code)."""
    text = safe(message, 500)
    return CheckResult(
        UNKNOWN, (f"LAYERS UNKNOWN - {text}",), {"error": {"code": code, "message": text}}
    )


def failure_reason(error: ApiError) -> str:
    """What a failure of the whole check means, in words a pager can act on."""
    if isinstance(error, ApiConnectionError):
        return "API unreachable"
    if isinstance(error, ApiTimeoutError):
        return "API did not answer in time"
    if error.code == "UNAUTHENTICATED" or error.status == 401:
        return "API key rejected"
    if error.code == "KILL_SWITCH":
        return "API key disabled"
    if error.code == "FORBIDDEN_SCOPE" or error.status == 403:
        return "API key not allowed to read accounts"
    if error.code == "RATE_LIMITED" or error.status == 429:
        return "API rate limit reached"
    if isinstance(error, InvalidResponseError) or error.code == "INVALID_RESPONSE":
        return "API answer not understood"
    if error.code == "PAGINATION_LIMIT":
        return "API list did not end"
    if error.status is not None and error.status >= 500:
        return "API failing"
    return "API error"


def api_failure(error: ApiError) -> CheckResult:
    """CRITICAL: the organisation could not be read at all."""
    reason = failure_reason(error)
    return CheckResult(
        CRITICAL,
        (f"LAYERS CRITICAL - {reason}: {format_error(error)}",),
        {
            "error": {
                "reason": reason,
                "code": error.code,
                "message": error.message,
                "requestId": error.request_id,
                "httpStatus": error.status,
            }
        },
    )


def internal_error(error: BaseException) -> CheckResult:
    """UNKNOWN for a surprise inside layers-tui: the type on the status line, the redacted
    traceback in the log, never a traceback as the output."""
    log.error("check failed: %s", redact("".join(traceback.format_exception(error))))
    return unknown(
        f"internal error in layers-tui: {type(error).__name__} (details in the log file)",
        "INTERNAL_CLIENT",
    )


# -- arguments -------------------------------------------------------------------------------
def json_requested(argv: list[str]) -> bool:
    """Whether `--json` (or an abbreviation argparse accepts) follows the `check` command:
    known even when the rest of the arguments do not parse."""
    after = argv[argv.index("check") + 1 :] if "check" in argv else argv
    for token in after:
        if token == "--":
            break
        if len(token) >= 3 and "--json".startswith(token):
            return True
    return False


@dataclass(frozen=True)
class CheckScope:
    project: str | None = None
    platform: str | None = None
    kind: str | None = None

    @property
    def narrowed(self) -> bool:
        return bool(self.project or self.platform or self.kind)

    def describe(self) -> str:
        parts = [
            f"--{name} {safe(value, 60)}"
            for name, value in (
                ("project", self.project),
                ("platform", self.platform),
                ("kind", self.kind),
            )
            if value
        ]
        return " ".join(parts) or "(everything)"

    def select(self, records: list[ProjectRecord]) -> list[ProjectRecord]:
        """Projects by id (exact), else by name (exact, then containing), case-insensitively;
        every project when no `project` was given."""
        return match_projects(records, self.project) if self.project else records


@dataclass(frozen=True)
class Freshness:
    """How fresh the data must be, and how long the check may spend making it so."""

    max_age: float = DEFAULT_MAX_AGE
    timeout: float | None = DEFAULT_TIMEOUT  # None: no limit
    asked_max_age: float | None = None  # set when the budget made `max_age` longer


# -- the engine ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Engine:
    """What `check` reads and refreshes through: an inventory over a store, and whoami."""

    inventory: Inventory
    store: Store
    clock: Clock
    identify: Callable[[], Awaitable[WhoAmI]]
    wall: Callable[[], float] = time.time  # the store's leases expire on the wall clock
    # the program a lease holder on this machine runs; None: its /proc command line
    program_of: Callable[[int], str | None] | None = None

    def lease_holder(self) -> str | None:
        """Who holds the refresh lease, as `pid 4242 (layers-tui)` (`pid 4242 on other-host`
        for another machine); None when nobody does."""
        from layers_tui.watch import describe_holder, process_program

        owner = self.store.lease_owner(self.wall())
        if owner is None:
            return None
        host, pid = owner
        program_of = self.program_of or process_program
        return describe_holder(host, pid, program_of(pid) if host == socket.gethostname() else None)

    @classmethod
    def of_session(cls, session: Session) -> Engine:
        session.cached_tier()
        return cls(session.inventory, session.store, session.clock, session.identify)

    @classmethod
    def of_client(
        cls, client: LayersClient, concurrency: int = 8, thresholds: Thresholds | None = None
    ) -> Engine:
        """A one-off engine over `client` with a store in memory (nothing kept): every
        project is fetched. For callers that hold a client rather than a session."""
        store = Store.memory()
        budget = RequestBudget(client.clock, 120)
        inventory = Inventory(
            client, store, budget, client.clock, thresholds=thresholds, concurrency=concurrency
        )

        async def identify() -> WhoAmI:
            whoami = await client.whoami()
            budget.set_tier(whoami.rate_limit_tier)
            if whoami.kill_switch or whoami.api_access_revoked:
                raise ApiError(
                    200, "KILL_SWITCH", "whoami reports this key or organisation as disabled."
                )
            return whoami

        return cls(inventory, store, client.clock, identify)


# -- gathering -------------------------------------------------------------------------------
@dataclass
class Refreshed:
    """What this run did to make the data fresh."""

    refreshed: int = 0
    failed: int = 0
    followed: bool = False  # another process held the lease: we asked it and waited
    holder: str | None = None  # who held it (`pid 4242 (layers-tui)`), when followed
    due: int = 0  # projects that needed a refresh when this run looked
    asked: int = 0  # of those, how many the holder was asked for (followed)
    waited: bool = False  # for the asked ones (followed): only when every due one fits
    duplicates: tuple[Project, ...] = ()
    # the store's projects, read last; only when --project needs their names
    records: list[ProjectRecord] | None = None


@dataclass(frozen=True)
class CheckData:
    """What the report is built from."""

    organization: str
    store: Store
    project_ids: tuple[str, ...] | None  # the selection; None: every project
    refreshed: Refreshed
    started_at: datetime
    freshness: Freshness
    per_minute: int = 0  # the request budget, for the stale explanation


def _due(
    records: Sequence[ProjectRecord], now: float, max_age: float, asked_at: float | None = None
) -> list[str]:
    """Projects to refresh: no data, data older than `max_age`, or a failed last attempt;
    with `asked_at`, not those the refresher has tried since we asked."""
    due = []
    for record in records:
        fresh = (
            record.refreshed_at is not None
            and now - record.refreshed_at < max_age
            and record.error is None
        )
        tried = (
            asked_at is not None
            and record.attempted_at is not None
            and record.attempted_at >= asked_at
        )
        if not fresh and not tried:
            due.append(record.id)
    return due


def _listing_due(store: Store, now: datetime, max_age: float) -> bool:
    listed_at = store.projects_listed_at()
    return listed_at is None or (now - listed_at).total_seconds() >= max_age


async def _refresh_here(
    engine: Engine, scope: CheckScope, freshness: Freshness, deadline: float | None
) -> Refreshed:
    """We hold the lease: list when the list is old, then refresh what is due, in the
    inventory's priority order, within the budget and until `deadline`."""
    inventory, store, clock = engine.inventory, engine.store, engine.clock
    outcome = Refreshed()
    if _listing_due(store, clock.now(), freshness.max_age):
        await inventory.list_projects()  # an ApiError here fails the whole check
        outcome.duplicates = tuple(inventory.duplicates)
    records = scope.select(store.projects())
    due = _due(records, clock.now().timestamp(), freshness.max_age)
    outcome.due = len(due)
    if due:
        result = await inventory.refresh(due, deadline=deadline)
        outcome.refreshed = len(result.refreshed)
        outcome.failed = len(result.failed)
    return outcome


async def freshen(
    engine: Engine, scope: CheckScope, freshness: Freshness, deadline: float | None
) -> Refreshed:
    """Make the selection's data fresh where the budget and `deadline` allow: ourselves under
    the refresh lease, or, when another process holds it, by asking that one through the
    store and waiting for its news (taking over if it goes away meanwhile). A fresh store
    is asked in SQL and nothing else happens (no lease, no request, no project document
    read unless --project needs the names)."""
    store, clock = engine.store, engine.clock
    records = store.projects() if scope.project else None
    ids = None if records is None else [record.id for record in scope.select(records)]
    now = clock.now()
    if not _listing_due(store, now, freshness.max_age) and not store.due_count(
        now.timestamp(), freshness.max_age, ids
    ):
        return Refreshed(records=records)
    outcome = await _freshen(engine, scope, freshness, deadline)
    outcome.records = store.projects() if scope.project else None
    return outcome


def projects_within(budget: RequestBudget, seconds: float | None) -> int | None:
    """How many projects the request budget refreshes in `seconds` (None: no limit), at
    its steady rate: what a lease holder busy with its own pass can give a check."""
    if seconds is None:
        return None
    return max(0, math.floor(budget.rate * seconds / REQUESTS_PER_PROJECT + 1e-9))


def most_urgent(records: Sequence[ProjectRecord], due: Sequence[str]) -> list[str]:
    """`due` (project ids) most urgent first: no data at all, then the oldest data; the
    listing order among equals."""
    by_id = {record.id: record for record in records}

    def urgency(project_id: str) -> tuple[bool, float]:
        refreshed_at = by_id[project_id].refreshed_at
        return (refreshed_at is not None, refreshed_at or 0.0)

    return sorted(due, key=urgency)


async def _follow(
    engine: Engine, scope: CheckScope, freshness: Freshness, deadline: float | None
) -> Refreshed | None:
    """Another process holds the lease: ask it for the most urgent of the due projects, as
    many as the request budget refreshes in the time left. When that is every due project,
    wait until it has tried each of them (or until `deadline`) and return then. When it is
    not, return at once: the holder refreshes at that same budget whether we wait or not
    (asks are served beside its own pass, which takes the same most urgent projects first),
    so waiting could not make the selection fresh, only the check slow; the asked ones are
    fresh for the next check. None when the holder went away meanwhile and the lease is
    ours."""
    inventory, store, clock = engine.inventory, engine.store, engine.clock
    outcome = Refreshed(followed=True, holder=engine.lease_holder())
    asked_at = clock.now().timestamp()
    asked: list[str] | None = None  # None: not asked yet (the projects are not listed yet)
    while True:
        if asked is None and store.projects_listed_at() is not None:
            records = scope.select(store.projects())
            due = _due(records, asked_at, freshness.max_age)
            left = None if deadline is None else deadline - clock.monotonic()
            room = projects_within(inventory.budget, left)
            asked = most_urgent(records, due)[:room]
            outcome.due, outcome.asked = len(due), len(asked)
            if asked:
                inventory.request_refresh(asked)
            if len(asked) < len(due):
                return outcome
            outcome.waited = True
        if asked is not None:
            chosen = list(store.projects_by_id(asked).values())  # only what we wait for
            outcome.refreshed = sum(
                1 for r in chosen if r.refreshed_at is not None and r.refreshed_at >= asked_at
            )
            if not _due(chosen, asked_at, freshness.max_age, asked_at):
                return outcome  # every asked project tried since we asked
        left = FOLLOW_SECONDS if deadline is None else deadline - clock.monotonic()
        if left <= 0:
            return outcome
        await clock.sleep(min(FOLLOW_SECONDS, left))
        if inventory.take_lease():  # its holder went away
            return None


async def _freshen(
    engine: Engine, scope: CheckScope, freshness: Freshness, deadline: float | None
) -> Refreshed:
    inventory = engine.inventory
    if not inventory.take_lease():
        followed = await _follow(engine, scope, freshness, deadline)
        if followed is not None:
            return followed

    # The lease is renewed as projects complete (no timer task: a pass within a time limit
    # completes a project every few seconds even on the smallest budget).
    def renew(event: InventoryEvent) -> None:
        if isinstance(event, ProjectUpdated):
            inventory.take_lease()

    inventory.listeners.append(renew)
    try:
        return await _refresh_here(engine, scope, freshness, deadline)
    finally:
        inventory.listeners.remove(renew)
        inventory.release()


async def gather(
    engine: Engine, scope: CheckScope, freshness: Freshness, now: Callable[[], datetime]
) -> CheckData | CheckResult:
    """whoami, then the store made as fresh as the budget and the time limit allow. A
    `CheckResult` when the selection matches no project."""
    started_at = now()
    deadline = None if freshness.timeout is None else engine.clock.monotonic() + freshness.timeout
    whoami = await engine.identify()
    freshness = within_budget(engine, freshness)
    outcome = await freshen(engine, scope, freshness, deadline)
    selected: tuple[str, ...] | None = None
    if scope.project:
        records = outcome.records if outcome.records is not None else engine.store.projects()
        selected = tuple(record.id for record in scope.select(records))
        if not selected:
            return unknown(
                f"no project matches --project {safe(scope.project, 60)!r} (by id, or part "
                f"of a name; {len(records)} projects listed)",
                "NO_MATCH",
            )
    return CheckData(
        whoami.organization_name,
        engine.store,
        selected,
        outcome,
        started_at,
        freshness,
        engine.inventory.budget.per_minute,
    )


def within_budget(engine: Engine, freshness: Freshness) -> Freshness:
    """A `--max-age` shorter than the time the key's request budget needs to refresh the whole
    organisation once can never be met (whoever refreshes): such data counts as fresh up to
    that time instead, and the output says so."""
    if freshness.max_age <= 0:  # --max-age 0: refresh everything the time limit allows
        return freshness
    projects = engine.store.project_count()
    plan = engine.inventory.budget.refresh_plan(projects, freshness.max_age)
    if plan.interval <= freshness.max_age * 1.0001:
        return freshness
    return replace(freshness, max_age=plan.interval * 1.1, asked_max_age=freshness.max_age)


# -- deciding --------------------------------------------------------------------------------
def exit_code(
    summary: Summary,
    failed_projects: int,
    duplicate_projects: int,
    invalid: int,
    stale: Summary | None = None,
    unseen_projects: int = 0,
) -> int:
    """Worst account severity in fresh data; CRITICAL when a project did not load (its
    accounts are not known); at least WARNING when the API sent duplicate project ids or
    unreadable records. Then the stale rule (see `cli.CHECK_EPILOG`): UNKNOWN when stale data alone
    shows something worse, or when a project has no data at all, unless already CRITICAL."""
    code = EXIT[summary.worst]
    if failed_projects:
        code = max(code, CRITICAL)
    if duplicate_projects or invalid:
        code = max(code, WARNING)
    if stale is not None and EXIT[stale.worst] > code:
        return UNKNOWN
    if unseen_projects and code < CRITICAL:
        return UNKNOWN
    return code


# -- reporting -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Staleness:
    """Which projects of the report are not fresh, and what their data shows."""

    stale: list[ProjectRecord]  # data older than max_age
    never: list[ProjectRecord]  # no data at all (and no failure recorded)
    summary: Summary  # problems seen in stale projects only
    ids: frozenset[str]
    oldest: float | None = None  # epoch of the oldest data among the counted projects

    @property
    def count(self) -> int:
        return len(self.stale) + len(self.never)


def oldest_data_at(store: Store, project_ids: Sequence[str] | None) -> float | None:
    """When the oldest data among the counted projects was fetched (epoch): the earliest
    successful refresh of the listed projects in `project_ids` (None: every listed
    project); None when none of them has data. Read from the project states only (no
    project document)."""
    wanted = None if project_ids is None else set(project_ids)
    return min(
        (
            refreshed_at
            for project_id, refreshed_at, _attempted, _failed, _seq in store.project_states()
            if refreshed_at is not None and (wanted is None or project_id in wanted)
        ),
        default=None,
    )


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def build_report(
    data: CheckData,
    scope: CheckScope,
    thresholds: Thresholds | ExpiryRanges,
    now: datetime,
    as_json: bool = False,
) -> CheckResult:
    ranges = ExpiryRanges.of(thresholds)
    selection = Selection(data.project_ids, scope.platform, scope.kind)
    with data.store.read_snapshot():  # the oldest data seen in the state the report counts
        report = health(
            data.store,
            now,
            EXPIRED_ONLY,
            selection,
            stale_before=data.started_at.timestamp() - data.freshness.max_age,
            problem_limit=PROBLEMS_LISTED,
            counts=_alert_conditions(ranges, now),
        )
        oldest = oldest_data_at(data.store, data.project_ids)
    projects = report.project_count
    failed_ids = {record.id for record in report.failed}
    never = [record for record in report.never if record.id not in failed_ids]
    if scope.narrowed and not report.summary.total and not report.failed and not never:
        return unknown(f"no accounts match {scope.describe()}", "NO_MATCH")
    stale_ids = [record.id for record in report.stale]
    summary, problems = _expiry_alerts(data.store, selection, ranges, now, report)
    stale_summary = report.stale_summary
    if stale_ids:
        stale_selection = Selection(tuple(stale_ids), scope.platform, scope.kind)
        stale_summary = _with_alerts(
            stale_summary, *_alert_counts(data.store, stale_selection, ranges, now)
        )
    staleness = Staleness(
        report.stale,
        never,
        stale_summary,
        frozenset(stale_ids),
        oldest,
    )
    fresh = Summary(
        critical=summary.critical - staleness.summary.critical,
        warning=summary.warning - staleness.summary.warning,
        ok=summary.ok,
        off=summary.off,
    )
    invalid = sum(len(record.invalid) for record in report.invalid)
    duplicates = data.refreshed.duplicates
    code = exit_code(
        fresh, len(report.failed), len(duplicates), invalid, staleness.summary, len(never)
    )
    expiry = report.min_expiry_seconds
    lines = _text_lines(data, problems, summary, report.invalid, report.failed, staleness, now)
    lines[0] = _status_line(
        code, summary, projects, len(report.failed), duplicates, invalid, staleness, now
    ) + _perf(
        summary,
        projects,
        len(report.failed),
        len(duplicates),
        invalid,
        expiry,
        staleness.count,
        ranges,
    )
    rows = (
        [
            _judged(row, ranges, now)
            for row in account_rows(data.store, now, EXPIRED_ONLY, selection)
        ]
        if as_json
        else []
    )
    return CheckResult(
        code,
        tuple(lines),
        _json_data(
            data,
            summary,
            rows,
            report.failed,
            invalid,
            staleness,
            expiry,
            projects,
            now,
            ranges,
        ),
    )


# Only an expired token counts against expiry in the SQL counts; the ranges add the rest.
EXPIRED_ONLY = Thresholds(warn_seconds=0, crit_seconds=0)
_TICKING = "kind = 'social' AND status = 'connected' AND expires_at IS NOT NULL AND expires_at > ?"


def _remaining(row: AccountRow, now: datetime) -> float | None:
    """Seconds until a connected social account's token expires; None when not ticking."""
    if row.kind != "social" or row.status != "connected" or row.token_expires_at is None:
        return None
    remaining = (row.token_expires_at - now).total_seconds()
    return remaining if remaining > 0 else None


def _judged(row: AccountRow, ranges: ExpiryRanges, now: datetime) -> AccountRow:
    """`row` (judged with EXPIRED_ONLY) with the ranges applied to its token expiry."""
    remaining = _remaining(row, now)
    if remaining is None or row.severity != Severity.OK:
        return row
    severity = ranges.severity(remaining)
    return row if severity == Severity.OK else replace(row, severity=severity)


def _alert_conditions(ranges: ExpiryRanges, now: datetime) -> tuple[tuple[str, list], ...]:
    """(critical, warning-but-not-critical) SQL over ticking tokens, with their parameters:
    comparisons on expires_at only, so each is a range of the index accounts_state."""
    stamp = now.timestamp()
    critical, critical_params = ranges.critical.sql(stamp)
    calm, calm_params = ranges.critical.complement().sql(stamp)
    warning, warning_params = ranges.warning.sql(stamp)
    return (
        (f"{_TICKING} AND {critical}", [stamp, *critical_params]),
        (
            f"{_TICKING} AND {calm} AND {warning}",
            [stamp, *calm_params, *warning_params],
        ),
    )


def _alerting(ranges: ExpiryRanges, now: datetime) -> tuple[str, list]:
    """Ticking tokens the ranges make critical or warning, as one condition (the common
    ticking part first, so the index is sought once)."""
    stamp = now.timestamp()
    critical, critical_params = ranges.critical.sql(stamp)
    warning, warning_params = ranges.warning.sql(stamp)
    return (
        f"{_TICKING} AND ({critical} OR {warning})",
        [stamp, *critical_params, *warning_params],
    )


def _scope(selection: Selection) -> dict[str, Any]:
    ids = list(selection.project_ids) if selection.project_ids is not None else None
    return {"project_ids": ids, "platform": selection.platform, "kind": selection.kind}


def _alert_counts(
    store: Store, selection: Selection, ranges: ExpiryRanges, now: datetime
) -> tuple[int, int]:
    """How many ticking tokens the ranges make critical, and how many warning."""
    critical, warning = _alert_conditions(ranges, now)
    scope = _scope(selection)
    return (store.count_where(*critical, **scope), store.count_where(*warning, **scope))


def _with_alerts(summary: Summary, critical: int, warning: int) -> Summary:
    return Summary(
        critical=summary.critical + critical,
        warning=summary.warning + warning,
        ok=summary.ok - critical - warning,
        off=summary.off,
    )


def _expiry_alerts(
    store: Store,
    selection: Selection,
    ranges: ExpiryRanges,
    now: datetime,
    report: HealthReport,
) -> tuple[Summary, list[AccountRow]]:
    """The report's summary and problem rows with the ranges applied: counted in SQL, and
    the soonest-expiring alerting rows built, up to PROBLEMS_LISTED in all."""
    critical, warning = report.counts
    summary = _with_alerts(report.summary, critical, warning)
    problems = list(report.problems)
    if critical + warning:
        condition, params = _alerting(ranges, now)
        accounts = store.first_accounts(
            condition, params, PROBLEMS_LISTED, order_by="expires_at", **_scope(selection)
        )
        owners = project_rows(store, {project_id for project_id, _, _ in accounts})
        for project_id, _kind, doc in accounts:
            project, refreshed = owners[project_id]
            row = social_row(
                SocialAccount.model_validate(doc), project, now, EXPIRED_ONLY, refreshed
            )
            problems.append(_judged(row, ranges, now))
    problems.sort(key=_worst_first)
    return summary, problems[:PROBLEMS_LISTED]


def _worst_first(row: AccountRow) -> tuple:
    """Worst severity first; within it the soonest (or longest past) expiry, then no
    expiry, then by project and name (project order put "token in 5 h" above "expired
    46 h ago")."""
    expires = row.token_expires_at
    return (
        -int(row.severity),
        expires is None,
        expires and expires.timestamp(),
        row.project_name,
        row.name,
    )


def _status_line(
    code: int,
    summary: Summary,
    projects: int,
    failed: int,
    duplicates: tuple[Project, ...],
    invalid: int,
    staleness: Staleness,
    now: datetime,
) -> str:
    head = (
        f"LAYERS {LABEL[code]} - {summary.critical} critical, {summary.warning} warning, "
        f"{summary.ok} ok, {summary.off} disconnected across {projects} projects"
    )
    if failed:
        head += f"; {failed} project(s) failed to load"
    if duplicates:
        head += f"; {len(duplicates)} duplicate project id(s) ({projects + len(duplicates)} listed)"
    if invalid:
        head += f"; {invalid} unreadable account record(s)"
    if staleness.count:
        parts = []
        if staleness.stale and staleness.oldest is not None:
            # stale data is older than any fresh data: this is the JSON's oldestDataAt
            parts.append(f"oldest data from {_ago(staleness.oldest, now)}")
        if staleness.never:
            parts.append(f"{len(staleness.never)} with no data yet")
        head += f"; {staleness.count} of {projects} project(s) stale ({', '.join(parts)})"
        seen = staleness.summary
        if seen.critical or seen.warning:
            head += f", {seen.critical} critical and {seen.warning} warning from stale data"
    return head


def _ago(stamp: float, now: datetime) -> str:
    return age(from_epoch(stamp), now)


def _perf(
    summary: Summary,
    projects: int,
    failed: int,
    duplicates: int,
    invalid: int,
    min_expiry_seconds: float | None,
    stale: int = 0,
    ranges: ExpiryRanges | None = None,
) -> str:
    """Performance data as the guidelines write it: `'label'=value[UOM];warn;crit;min;max`,
    counts without a unit, the soonest token expiry in seconds with the -w/-c ranges."""
    items = [
        perfdata("critical", summary.critical, minimum=0),
        perfdata("warning", summary.warning, minimum=0),
        perfdata("ok", summary.ok, minimum=0),
        perfdata("disconnected", summary.off, minimum=0),
        perfdata("projects", projects, minimum=0),
        perfdata("failed_projects", failed, minimum=0),
    ]
    if duplicates:
        items.append(perfdata("duplicate_projects", duplicates, minimum=0))
    if invalid:
        items.append(perfdata("invalid_records", invalid, minimum=0))
    if min_expiry_seconds is not None:
        items.append(
            perfdata(
                "min_expiry",
                round(min_expiry_seconds),
                "s",
                warn=ranges.warning.text if ranges else "",
                crit=ranges.critical.text if ranges else "",
            )
        )
    if stale:
        items.append(perfdata("stale_projects", stale, minimum=0))
    return " | " + " ".join(items)


def _text_lines(
    data: CheckData,
    problems: list[AccountRow],
    summary: Summary,
    unreadable: list[ProjectRecord],
    failed: list[ProjectRecord],
    staleness: Staleness,
    now: datetime,
) -> list[str]:
    lines = [""]  # the status line, filled in by the caller
    refreshed_at = {record.id: record.refreshed_at for record in staleness.stale}
    for row in problems:
        expiry = relative_time(row.token_expires_at, now) if row.token_expires_at else ""
        line = (
            f"{row.severity.name}: {safe(row.project_name, 60)} / "
            f"{safe(row.platform_label, 40)} / {safe(row.name, 60)}: "
            f"{safe(row.status_label, 60)}"
            + (f", token {expiry}" if expiry else "")
            + f"; action: {remedy(row, now)[1]} [{safe(row.key, 60)}]"
        )
        if row.project_id in staleness.ids:
            line += f" (stale: data from {_ago(refreshed_at[row.project_id] or 0.0, now)})"
        lines.append(line)
    listed = summarize(problems)
    more_critical = summary.critical - listed.critical
    more_warning = summary.warning - listed.warning
    if more_critical or more_warning:
        lines.append(
            f"... and {more_critical + more_warning} more problem account(s) ({more_critical} "
            f"critical, {more_warning} warning); --json lists every account"
        )
    for record in failed:
        error = error_from_record(record.error)
        if error is not None:
            lines.append(
                f"CRITICAL: project {safe(_name(record), 60)} [{safe(record.id, 60)}] did not "
                f"load: {format_error(error)}"
            )
    for project in data.refreshed.duplicates:
        lines.append(
            f"WARNING: project id {safe(project.id, 60)} is listed more than once "
            f"(also as {safe(project.name, 60)!r}); its accounts are counted once"
        )
    for record in unreadable:
        if record.invalid:
            lines.append(
                f"WARNING: project {safe(_name(record), 60)}: {len(record.invalid)} account "
                "record(s) could not be read"
            )
    for record in staleness.never[:STALE_LISTED]:
        lines.append(
            f"STALE: project {safe(_name(record), 60)} [{safe(record.id, 60)}] has no data yet"
        )
    if len(staleness.never) > STALE_LISTED:
        lines.append(
            f"STALE: and {len(staleness.never) - STALE_LISTED} more project(s) with no data yet"
        )
    if staleness.count:
        lines.append(f"STALE: {_stale_reason(data, staleness.count)}")
    return lines


def _stale_reason(data: CheckData, count: int) -> str:
    """Why `count` projects are stale, and what would make them fresh: who refreshes the
    store (the lease holder, by pid and program), or that nobody does."""
    limit = data.freshness.timeout
    within = f"within the {_span(limit)} time limit" if limit is not None else "in time"
    budget = f"the request budget ({data.per_minute} req/min)"
    done = data.refreshed
    if done.followed:
        holder = done.holder or "another layers-tui (watch or a dashboard)"
        if done.waited:
            asked = (
                f"this check asked it for the {done.asked} due and {done.refreshed} were "
                f"refreshed {within}"
            )
        else:
            allows, which = (
                (f"allows {done.asked}", f"the {done.asked} most urgent")
                if done.asked
                else ("allows none", "none")
            )
            asked = (
                f"{budget} {allows} of the {done.due} due {within}, so this check asked it "
                f"for {which} and did not wait (it refreshes at that budget whether check "
                "waits or not)"
            )
        why = (
            f"{holder} holds the refresh lease and refreshes every project in its own "
            f"passes; {asked}"
        )
        advice = (
            "raise --timeout to wait for more"
            if done.waited
            else "raise --max-age, or --timeout to wait until every due project fits"
        )
    else:
        why = (
            f"not reached {within} at {budget}: this check refreshed {done.refreshed} of the "
            f"{done.due} due"
        )
        advice = (
            "nothing else refreshes this store: keep it fresh with `layers-tui watch` (or "
            "`layers-tui sync` from cron), or raise --max-age or --timeout"
        )
    widened = ""
    if data.freshness.asked_max_age is not None:
        widened = (
            f" (--max-age {_span(data.freshness.asked_max_age)} is shorter than the "
            f"{_span(data.freshness.max_age)} the request budget needs for every "
            "project, so that is what counts as fresh)"
        )
    return (
        f"{count} project(s) not refreshed in the last {_span(data.freshness.max_age)}"
        f"{widened}: {why}; {advice}"
    )


def _span(seconds: float) -> str:
    """A limit as people say it, rounded to its unit: `20 s`, `41 min`, `3 h`, `2 days`."""
    if seconds < 120:
        return f"{_whole(seconds)} s"
    if seconds < 7200:
        return f"{_whole(seconds / 60)} min"
    if seconds < 2 * 86_400:
        return f"{_whole(seconds / 3600)} h"
    return f"{_whole(seconds / 86_400)} days"


def _whole(value: float) -> int:
    """Rounded half up (`round` would make 2.5 two)."""
    return math.floor(value + 0.5)


def _name(record: ProjectRecord) -> str:
    return str(record.doc.get("name") or record.id)


def _account_json(row: AccountRow, now: datetime, stale: bool) -> dict[str, Any]:
    """One account for --json: what is wrong (`problem`) and what fixes it (`action`) in
    words for machines, with no key names."""
    problem, action = remedy(row, now)
    return {**row_record(row), "problem": safe(problem, None), "action": action, "stale": stale}


def _json_data(
    data: CheckData,
    summary: Summary,
    rows: list[AccountRow],
    failed: list[ProjectRecord],
    invalid: int,
    staleness: Staleness,
    min_expiry_seconds: float | None,
    projects: int,
    now: datetime,
    ranges: ExpiryRanges,
) -> dict[str, Any]:
    duplicates = data.refreshed.duplicates
    return {
        "organization": data.organization,
        "checkedAt": _iso(now),
        "summary": {
            "critical": summary.critical,
            "warning": summary.warning,
            "ok": summary.ok,
            "disconnected": summary.off,
            "projects": projects,
            "failedProjects": len(failed),
            "duplicateProjects": len(duplicates),
            "invalidRecords": invalid,
            "minExpiryHours": _hours(min_expiry_seconds),
            "minExpirySeconds": None if min_expiry_seconds is None else round(min_expiry_seconds),
            "staleProjects": staleness.count,
            "noDataProjects": len(staleness.never),
            "staleCritical": staleness.summary.critical,
            "staleWarning": staleness.summary.warning,
            "oldestDataAt": _iso(from_epoch(staleness.oldest)),
            "maxAgeSeconds": _whole(data.freshness.max_age),
            "refreshedProjects": data.refreshed.refreshed,
            "dueProjects": data.refreshed.due,
            "askedProjects": data.refreshed.asked if data.refreshed.followed else None,
            "refreshedBy": data.refreshed.holder if data.refreshed.followed else None,
        },
        "thresholds": ranges.describe(),
        "accounts": [_account_json(row, now, row.project_id in staleness.ids) for row in rows],
        "failedProjects": [
            {
                "projectId": record.id,
                "name": _name(record),
                "error": {
                    "code": error.code,
                    "message": error.message,
                    "requestId": error.request_id,
                },
            }
            for record in failed
            if (error := error_from_record(record.error)) is not None
        ],
        "duplicateProjects": [{"projectId": p.id, "name": p.name} for p in duplicates],
        "staleProjects": [
            {
                "projectId": record.id,
                "name": _name(record),
                "refreshedAt": _iso(from_epoch(record.refreshed_at)),
            }
            for record in [*staleness.stale, *staleness.never]
        ],
    }


# -- the command -----------------------------------------------------------------------------
async def check_engine(
    engine: Engine,
    now: Callable[[], datetime],
    thresholds: Thresholds | ExpiryRanges,
    scope: CheckScope,
    freshness: Freshness = Freshness(),
    as_json: bool = False,
) -> CheckResult:
    """The whole check as one result; never raises (but for cancellation)."""
    try:
        gathered = await gather(engine, scope, freshness, now)
        if isinstance(gathered, CheckResult):
            return gathered
        return build_report(gathered, scope, thresholds, now(), as_json)
    except ApiError as error:
        return api_failure(error)
    except Exception as error:  # any surprise is UNKNOWN, never a traceback
        return internal_error(error)


async def check_session(
    session: Session,
    thresholds: Thresholds | ExpiryRanges,
    scope: CheckScope,
    freshness: Freshness = Freshness(),
    as_json: bool = False,
) -> CheckResult:
    """`check` over a session's store (what the command line runs)."""
    try:
        engine = Engine.of_session(session)
    except Exception as error:
        return internal_error(error)
    return await check_engine(engine, session.clock.now, thresholds, scope, freshness, as_json)


async def check(
    client: LayersClient,
    now: Callable[[], datetime],
    thresholds: Thresholds | ExpiryRanges,
    scope: CheckScope,
    concurrency: int,
    as_json: bool = False,
) -> CheckResult:
    """`check` with a client and nothing kept: every selected project is fetched."""
    engine = Engine.of_client(
        client, concurrency, thresholds if isinstance(thresholds, Thresholds) else None
    )
    try:
        return await check_engine(
            engine, now, thresholds, scope, Freshness(max_age=0, timeout=None), as_json
        )
    finally:
        engine.store.close()


async def run_check(
    client: LayersClient,
    now: Callable[[], datetime],
    thresholds: Thresholds | ExpiryRanges,
    scope: CheckScope,
    as_json: bool,
    concurrency: int,
) -> tuple[int, str]:
    """Returns (exit code, text to print)."""
    result = await check(client, now, thresholds, scope, concurrency, as_json)
    return result.code, result.render(as_json)

"""`layers-tui check`: one non-interactive health check with Nagios exit codes and --json.

Exit codes (Nagios plugin guidelines): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. An unreachable
API or a rejected key is CRITICAL with the cause named; bad flags, a bad config, a selection
that matches nothing and any surprise inside layers-tui are UNKNOWN. Every outcome is one
`CheckResult`, printed as text (first line the status line) or as one JSON object.

The module has three parts kept apart so the data source can change: gathering
(`gather`: today from the API), deciding (`exit_code`) and reporting (`build_report`).
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from layers_tui.api import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    InvalidResponseError,
    LayersClient,
    format_error,
)
from layers_tui.domain.export import row_record
from layers_tui.domain.status import (
    AccountRow,
    Severity,
    Summary,
    Thresholds,
    relative_time,
    summarize,
)
from layers_tui.inventory import Inventory, load_inventory, load_projects
from layers_tui.logs import redact
from layers_tui.models import Project
from layers_tui.text import safe, safe_data

log = logging.getLogger("layers_tui.check")

SCHEMA_VERSION = 1
OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
EXIT = {Severity.OK: OK, Severity.OFF: OK, Severity.WARNING: WARNING, Severity.CRITICAL: CRITICAL}
LABEL = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


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
def parse_duration(text: str) -> float:
    """`7d`, `24h`, `90m`, `30s` -> seconds. Raises ValueError with a usable message."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{safe(text, 40)!r} is not a duration like 7d, 24h, 90m or 30s")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86_400}[match.group(2)]


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

    def select_projects(self, projects: list[Project]) -> list[Project]:
        """Projects whose id is `project` exactly (case-insensitive); failing that, whose
        name contains it. Every project when no `project` was given."""
        if not self.project:
            return projects
        wanted = self.project.lower()
        by_id = [project for project in projects if project.id.lower() == wanted]
        return by_id or [project for project in projects if wanted in project.name.lower()]

    def keeps(self, row: AccountRow) -> bool:
        if self.platform and row.platform != self.platform:
            return False
        return not (self.kind and row.kind != self.kind)


# -- gathering -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckData:
    """What the report is built from, whatever the source."""

    organization: str
    listed_projects: int
    inventory: Inventory


async def gather(
    client: LayersClient, scope: CheckScope, now: Callable[[], datetime], concurrency: int
) -> CheckData | CheckResult:
    """Read the organisation: a `CheckResult` when the selection matches no project."""
    whoami = await client.whoami()
    projects = await load_projects(client)
    selected = scope.select_projects(projects)
    if scope.project and not selected:
        return unknown(
            f"no project matches --project {safe(scope.project, 60)!r} (by id, or part of a "
            f"name; {len(projects)} projects listed)",
            "NO_MATCH",
        )
    inventory = await load_inventory(client, now, concurrency, projects=selected)
    return CheckData(whoami.organization_name, len(projects), inventory)


# -- deciding --------------------------------------------------------------------------------
def exit_code(summary: Summary, failed_projects: int, duplicate_projects: int, invalid: int) -> int:
    """Worst account severity; CRITICAL when a project did not load (its accounts are not
    known); at least WARNING when the API sent duplicate project ids or unreadable records."""
    code = EXIT[summary.worst]
    if failed_projects:
        code = max(code, CRITICAL)
    if duplicate_projects or invalid:
        code = max(code, WARNING)
    return code


# -- reporting -------------------------------------------------------------------------------
def _min_expiry_hours(rows: list[AccountRow], now: datetime) -> float | None:
    expiries = [
        (row.token_expires_at - now).total_seconds() / 3600
        for row in rows
        if row.token_expires_at is not None and row.status == "connected"
    ]
    return round(min(expiries), 1) if expiries else None


def build_report(
    data: CheckData, scope: CheckScope, thresholds: Thresholds, now: datetime
) -> CheckResult:
    inventory = data.inventory
    rows = [row for row in inventory.rows(now, thresholds) if scope.keeps(row)]
    failed = inventory.failed
    invalid = sum(len(snap.invalid) for snap in inventory.snapshots.values())
    if scope.narrowed and not rows and not failed:
        return unknown(f"no accounts match {scope.describe()}", "NO_MATCH")
    summary = summarize(rows)
    code = exit_code(summary, len(failed), len(inventory.duplicates), invalid)
    return CheckResult(
        code,
        _text_lines(code, summary, rows, inventory, invalid, now),
        _json_data(data, summary, rows, invalid, now),
    )


def _text_lines(
    code: int,
    summary: Summary,
    rows: list[AccountRow],
    inventory: Inventory,
    invalid: int,
    now: datetime,
) -> tuple[str, ...]:
    projects = len(inventory.snapshots)
    head = (
        f"LAYERS {LABEL[code]} - {summary.critical} critical, {summary.warning} warning, "
        f"{summary.ok} ok, {summary.off} disconnected across {projects} projects"
    )
    if inventory.failed:
        head += f"; {len(inventory.failed)} project(s) failed to load"
    if inventory.duplicates:
        head += (
            f"; {len(inventory.duplicates)} duplicate project id(s) "
            f"({len(inventory.projects)} listed)"
        )
    if invalid:
        head += f"; {invalid} unreadable account record(s)"
    perf = (
        f"critical={summary.critical} warning={summary.warning} ok={summary.ok} "
        f"disconnected={summary.off} projects={projects} "
        f"failed_projects={len(inventory.failed)}"
    )
    if inventory.duplicates:
        perf += f" duplicate_projects={len(inventory.duplicates)}"
    if invalid:
        perf += f" invalid_records={invalid}"
    min_hours = _min_expiry_hours(rows, now)
    if min_hours is not None:
        perf += f" min_expiry_hours={min_hours}h"
    lines = [f"{head} | {perf}"]
    problems = sorted(
        (row for row in rows if row.severity >= Severity.WARNING),
        key=lambda row: (-int(row.severity), row.project_name, row.name),
    )
    for row in problems:
        expiry = relative_time(row.token_expires_at, now) if row.token_expires_at else ""
        lines.append(
            f"{row.severity.name}: {safe(row.project_name, 60)} / "
            f"{safe(row.platform_label, 40)} / {safe(row.name, 60)}: "
            f"{safe(row.status_label, 60)}"
            + (f", token {expiry}" if expiry else "")
            + f" [{safe(row.key, 60)}]"
        )
    for snap in inventory.failed:
        if snap.error is not None:
            lines.append(
                f"CRITICAL: project {safe(snap.project.name, 60)} "
                f"[{safe(snap.project.id, 60)}] did not load: {format_error(snap.error)}"
            )
    for project in inventory.duplicates:
        lines.append(
            f"WARNING: project id {safe(project.id, 60)} is listed more than once "
            f"(also as {safe(project.name, 60)!r}); its accounts are counted once"
        )
    for snap in inventory.snapshots.values():
        if snap.invalid:
            lines.append(
                f"WARNING: project {safe(snap.project.name, 60)}: {len(snap.invalid)} account "
                "record(s) could not be read"
            )
    return tuple(lines)


def _json_data(
    data: CheckData, summary: Summary, rows: list[AccountRow], invalid: int, now: datetime
) -> dict[str, Any]:
    inventory = data.inventory
    return {
        "organization": data.organization,
        "checkedAt": now.isoformat().replace("+00:00", "Z"),
        "summary": {
            "critical": summary.critical,
            "warning": summary.warning,
            "ok": summary.ok,
            "disconnected": summary.off,
            "projects": len(inventory.snapshots),
            "failedProjects": len(inventory.failed),
            "duplicateProjects": len(inventory.duplicates),
            "invalidRecords": invalid,
            "minExpiryHours": _min_expiry_hours(rows, now),
        },
        "accounts": [row_record(row) for row in rows],
        "failedProjects": [
            {
                "projectId": snap.project.id,
                "name": snap.project.name,
                "error": {
                    "code": snap.error.code,
                    "message": snap.error.message,
                    "requestId": snap.error.request_id,
                },
            }
            for snap in inventory.failed
            if snap.error is not None
        ],
        "duplicateProjects": [
            {"projectId": project.id, "name": project.name} for project in inventory.duplicates
        ],
    }


# -- the command -----------------------------------------------------------------------------
async def check(
    client: LayersClient,
    now: Callable[[], datetime],
    thresholds: Thresholds,
    scope: CheckScope,
    concurrency: int,
) -> CheckResult:
    """The whole check as one result; never raises (but for cancellation)."""
    try:
        gathered = await gather(client, scope, now, concurrency)
        if isinstance(gathered, CheckResult):
            return gathered
        return build_report(gathered, scope, thresholds, now())
    except ApiError as error:
        return api_failure(error)
    except Exception as error:  # any surprise is UNKNOWN, never a traceback
        return internal_error(error)


async def run_check(
    client: LayersClient,
    now: Callable[[], datetime],
    thresholds: Thresholds,
    scope: CheckScope,
    as_json: bool,
    concurrency: int,
) -> tuple[int, str]:
    """Returns (exit code, text to print)."""
    result = await check(client, now, thresholds, scope, concurrency)
    return result.code, result.render(as_json)

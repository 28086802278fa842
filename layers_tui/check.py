"""`layers-tui check`: one non-interactive health check with Nagios exit codes and --json.

Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad flags or config). An unreachable API
or a rejected key is CRITICAL with the reason, as the Nagios guidelines advise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from layers_tui.api import ApiError, LayersClient, format_error
from layers_tui.domain.export import row_record
from layers_tui.domain.status import AccountRow, Severity, Thresholds, relative_time, summarize
from layers_tui.inventory import Inventory, load_inventory
from layers_tui.text import safe

SCHEMA_VERSION = 1
EXIT = {Severity.OK: 0, Severity.OFF: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
LABEL = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_duration(text: str) -> float:
    """`7d`, `24h`, `90m`, `30s` -> seconds. Raises ValueError with a usable message."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 7d, 24h, 90m or 30s")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86_400}[match.group(2)]


@dataclass(frozen=True)
class CheckScope:
    project: str | None = None
    platform: str | None = None
    kind: str | None = None

    def keeps(self, row: AccountRow) -> bool:
        if (
            self.project
            and self.project.lower() not in (row.project_id.lower(),)
            and self.project.lower() not in row.project_name.lower()
        ):
            return False
        if self.platform and row.platform != self.platform:
            return False
        return not (self.kind and row.kind != self.kind)


async def run_check(
    client: LayersClient,
    now: Callable[[], datetime],
    thresholds: Thresholds,
    scope: CheckScope,
    as_json: bool,
    concurrency: int,
) -> tuple[int, str]:
    """Returns (exit code, text to print)."""
    try:
        whoami = await client.whoami()
        inventory = await load_inventory(client, now, concurrency)
    except ApiError as error:
        return _api_failure(error, as_json)
    moment = now()
    rows = [row for row in inventory.rows(moment, thresholds) if scope.keeps(row)]
    summary = summarize(rows)
    code = EXIT[summary.worst]
    if inventory.failed:
        code = max(code, 2)
    if as_json:
        return code, json.dumps(
            _json_report(code, whoami.organization_name, rows, inventory, moment), ensure_ascii=True
        )
    return code, _text_report(code, rows, inventory, moment)


def _api_failure(error: ApiError, as_json: bool) -> tuple[int, str]:
    if as_json:
        return 2, json.dumps(
            {
                "schemaVersion": SCHEMA_VERSION,
                "status": "CRITICAL",
                "exitCode": 2,
                "error": {
                    "code": error.code,
                    "message": error.message,
                    "requestId": error.request_id,
                    "httpStatus": error.status,
                },
            },
            ensure_ascii=True,
        )
    return 2, f"LAYERS CRITICAL - API unavailable: {format_error(error)}"


def _min_expiry_hours(rows: list[AccountRow], now: datetime) -> float | None:
    expiries = [
        (row.token_expires_at - now).total_seconds() / 3600
        for row in rows
        if row.token_expires_at is not None and row.status == "connected"
    ]
    return round(min(expiries), 1) if expiries else None


def _text_report(code: int, rows: list[AccountRow], inventory: Inventory, now: datetime) -> str:
    summary = summarize(rows)
    projects = len(inventory.snapshots)
    head = (
        f"LAYERS {LABEL[code]} - {summary.critical} critical, {summary.warning} warning, "
        f"{summary.ok} ok, {summary.off} disconnected across {projects} projects"
    )
    if inventory.failed:
        head += f"; {len(inventory.failed)} project(s) failed to load"
    perf = (
        f"critical={summary.critical} warning={summary.warning} ok={summary.ok} "
        f"disconnected={summary.off} projects={projects} "
        f"failed_projects={len(inventory.failed)}"
    )
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
            f"{row.platform_label} / {safe(row.name, 60)}: {row.status_label}"
            + (f", token {expiry}" if expiry else "")
            + f" [{safe(row.key, 60)}]"
        )
    for snap in inventory.failed:
        assert snap.error is not None
        lines.append(
            f"CRITICAL: project {safe(snap.project.name, 60)} did not load: "
            f"{format_error(snap.error)}"
        )
    return "\n".join(lines)


def _json_report(
    code: int, organization: str, rows: list[AccountRow], inventory: Inventory, now: datetime
) -> dict:
    summary = summarize(rows)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "status": LABEL[code],
        "exitCode": code,
        "organization": organization,
        "checkedAt": now.isoformat().replace("+00:00", "Z"),
        "summary": {
            "critical": summary.critical,
            "warning": summary.warning,
            "ok": summary.ok,
            "disconnected": summary.off,
            "projects": len(inventory.snapshots),
            "failedProjects": len(inventory.failed),
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
    }

"""Export of the rows the user sees (after filter and sort) as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from .status import AccountRow

FIELDS = (
    "id",
    "kind",
    "project",
    "projectId",
    "platform",
    "name",
    "status",
    "severity",
    "leased",
    "connectedAt",
    "tokenExpiresAt",
    "problem",
)


def row_record(row: AccountRow) -> dict:
    return {
        "id": row.key,
        "kind": row.kind,
        "project": row.project_name,
        "projectId": row.project_id,
        "platform": row.platform,
        "name": row.name,
        "status": row.status,
        "severity": row.severity.name.lower(),
        "leased": row.leased,
        "connectedAt": _iso(row.connected_at),
        "tokenExpiresAt": _iso(row.token_expires_at),
        "problem": row.problem,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def to_csv(rows: list[AccountRow]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = row_record(row)
        # A leading = + - @ would run as a formula in spreadsheets; API text is untrusted.
        writer.writerow(
            {
                k: ("'" + v if isinstance(v, str) and v[:1] in "=+-@\t\r" else v)
                for k, v in record.items()
            }
        )
    return buffer.getvalue()


def to_json(rows: list[AccountRow]) -> str:
    return json.dumps(
        {"schemaVersion": 1, "accounts": [row_record(r) for r in rows]}, indent=2, ensure_ascii=True
    )

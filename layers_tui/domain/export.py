"""Export of the rows the user sees (after filter and sort) as CSV or JSON.

Every string is passed through `text.safe_data` first, so no control character from the API
reaches a file (or the terminal that later shows it)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from layers_tui.text import safe_data

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
# A cell starting with one of these runs as a formula in spreadsheets; API text is untrusted.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def row_record(row: AccountRow) -> dict[str, Any]:
    """One row as a JSON-ready record, every string sanitised."""
    return safe_data(
        {
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
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def csv_cell(value: object) -> str:
    """The text of one CSV cell: empty for None, `true`/`false` for booleans, and a `'`
    before a non-empty value a spreadsheet would run as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(records: Iterable[Mapping[str, object]], fields: Iterable[str]) -> str:
    """CSV with `\\r\\n` line ends (RFC 4180): the csv module then quotes every value holding
    `\\r` or `\\n`, so no value can start a new row or cell."""
    columns = list(fields)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for record in records:
        writer.writerow([csv_cell(record.get(column)) for column in columns])
    return buffer.getvalue()


def to_csv(rows: list[AccountRow]) -> str:
    return write_csv((row_record(row) for row in rows), FIELDS)


def to_json(rows: list[AccountRow]) -> str:
    return json.dumps(
        {"schemaVersion": 1, "accounts": [row_record(r) for r in rows]}, indent=2, ensure_ascii=True
    )

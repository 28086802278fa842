"""Filter expressions and sort orders for the accounts table."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .status import AccountRow, Severity

FIELDS = ("status", "platform", "project", "kind", "name", "handle", "id")
SORT_KEYS = ("status", "expiry", "name", "project", "platform", "connected")
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Term:
    field: str | None  # None: any field
    text: str
    regex: re.Pattern[str] | None
    inverse: bool


@dataclass(frozen=True)
class Filter:
    terms: tuple[Term, ...] = ()
    problems_only: bool = False
    error: str | None = None  # a term that could not be understood (shown, then ignored)

    @property
    def active(self) -> bool:
        return bool(self.terms) or self.problems_only


def parse_filter(text: str, problems_only: bool = False) -> Filter:
    """`acme status:reauth !platform:instagram /^pix/`: every term must match (AND).
    `field:value` looks in one field; `/regex/` is a case-insensitive regex; `!` negates."""
    terms: list[Term] = []
    error = None
    for raw in text.split():
        inverse = raw.startswith("!")
        body = raw[1:] if inverse else raw
        field = None
        name, sep, rest = body.partition(":")
        if sep and name.lower() in FIELDS:
            field, body = ("name" if name.lower() == "handle" else name.lower()), rest
        regex = None
        if len(body) >= 2 and body.startswith("/") and body.endswith("/"):
            try:
                regex = re.compile(body[1:-1], re.IGNORECASE)
            except re.error as problem:
                error = f"bad regex {body}: {problem}"
                continue
        if not body:
            continue
        terms.append(Term(field, body.lower(), regex, inverse))
    return Filter(tuple(terms), problems_only, error)


def matches(row: AccountRow, spec: Filter) -> bool:
    if spec.problems_only and row.severity < Severity.WARNING:
        return False
    for term in spec.terms:
        haystack = row.search_text if term.field is None else row.search_fields[term.field]
        if term.regex is not None:
            hit = any(term.regex.search(line) for line in haystack.split("\n"))
        else:
            hit = term.text in haystack
        if hit == term.inverse:
            return False
    return True


def filter_rows(rows: list[AccountRow], spec: Filter) -> list[AccountRow]:
    """`matches` over a list, with a fast path for the common case (one plain word)."""
    if not spec.active:
        return rows
    if not spec.problems_only and len(spec.terms) == 1:
        term = spec.terms[0]
        if term.field is None and term.regex is None and not term.inverse:
            needle = term.text
            return [row for row in rows if needle in row.search_text]
    return [row for row in rows if matches(row, spec)]


def sort_key(column: str) -> Callable[[AccountRow], tuple]:
    """Ascending keys; for `status` ascending already means worst first."""

    def expiry(row: AccountRow) -> datetime:
        return row.token_expires_at or _FAR_FUTURE

    keys: dict[str, Callable[[AccountRow], tuple]] = {
        "status": lambda r: (-int(r.severity), expiry(r), r.project_name.lower(), r.name.lower()),
        "expiry": lambda r: (expiry(r), -int(r.severity), r.name.lower()),
        "name": lambda r: (r.name.lower(), r.key),
        "project": lambda r: (r.project_name.lower(), -int(r.severity), r.name.lower()),
        "platform": lambda r: (r.platform, -int(r.severity), r.name.lower()),
        "connected": lambda r: (r.connected_at or _FAR_FUTURE, r.key),
    }
    return keys[column]


def sort_rows(rows: list[AccountRow], column: str, reverse: bool = False) -> list[AccountRow]:
    return sorted(rows, key=sort_key(column), reverse=reverse)

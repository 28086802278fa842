"""Filter expressions and sort orders for the accounts table."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .status import AccountRow, Severity

FIELDS = ("status", "platform", "project", "kind", "name", "handle", "id")
# Fields with a fixed set of values: `platform:tiktok` is TikTok, not TikTok Ads (a trailing
# `*` asks for a prefix: `platform:tiktok*` is both). `status` matches a whole word of the
# status or its label (`status:reauth`, `status:expired`; `connected` is not `disconnected`).
EXACT_FIELDS = frozenset({"platform", "kind"})
WORD_FIELDS = frozenset({"status"})
# What `s` cycles through, in order (every column of the table but Since, which comes
# from the store's history rather than the rows).
SORT_KEYS = ("status", "expiry", "name", "project", "platform", "connected", "checked", "leased")
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_FIELD_LIKE = re.compile(r"[a-z_]+$")
_WORD_SPLIT = re.compile(r"[\s_]+")


@dataclass(frozen=True)
class Term:
    field: str | None  # None: any field
    text: str
    regex: re.Pattern[str] | None
    inverse: bool
    mode: str = "contains"  # "contains", "exact", "word" or "prefix"


@dataclass(frozen=True)
class Filter:
    terms: tuple[Term, ...] = ()
    problems_only: bool = False
    error: str | None = None  # a term that could not be understood (shown, then ignored)

    @property
    def active(self) -> bool:
        return bool(self.terms) or self.problems_only


def split_terms(text: str) -> tuple[list[str], str | None]:
    """Words separated by spaces; a double-quoted part keeps its spaces (`name:"Bloom &
    Wild UK"`) and loses its quotes. An unclosed quote runs to the end (and is reported)."""
    words: list[str] = []
    current: list[str] = []
    quoted = False
    started = False
    for char in text:
        if char == '"':
            quoted, started = not quoted, True
        elif char.isspace() and not quoted:
            if started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return words, ('unclosed quote (")' if quoted else None)


def _mode(field: str | None, body: str) -> tuple[str, str]:
    if body.endswith("*") and len(body) > 1:
        return "prefix", body[:-1]
    if field in EXACT_FIELDS:
        return "exact", body
    if field in WORD_FIELDS:
        return "word", body
    return "contains", body


def parse_filter(text: str, problems_only: bool = False) -> Filter:
    """`acme status:reauth !platform:instagram /^pix/ name:"Bloom & Wild"`: every term must
    match (AND). `field:value` looks in one field (exactly, for platform and kind; `value*`
    for a prefix); `/regex/` is a case-insensitive regex; `!` negates. A term that cannot be
    understood (an unknown field, a bad regex) is named in `error` and left out."""
    terms: list[Term] = []
    raw_terms, error = split_terms(text)
    for raw in raw_terms:
        inverse = raw.startswith("!")
        body = raw[1:] if inverse else raw
        field = None
        name, sep, rest = body.partition(":")
        if sep and name.lower() in FIELDS:
            field, body = ("name" if name.lower() == "handle" else name.lower()), rest
        elif sep and _FIELD_LIKE.match(name.lower()):
            error = f"unknown field '{name}' (fields: {', '.join(FIELDS)})"
            continue
        regex = None
        if body.startswith("/") and (len(body) < 2 or not body.endswith("/")):
            # A /regex/ being typed: left out (not matched as text) until it is closed.
            error = f"{body} is not a /regex/ yet: end it with /"
            continue
        if len(body) >= 2 and body.startswith("/") and body.endswith("/"):
            try:
                regex = re.compile(body[1:-1], re.IGNORECASE)
            except re.error as problem:
                error = f"bad regex {body}: {problem}"
                continue
        if not body:
            continue
        mode, body = _mode(field, body) if regex is None else ("contains", body)
        terms.append(Term(field, body.lower(), regex, inverse, mode))
    return Filter(tuple(terms), problems_only, error)


def _hit(term: Term, haystack: str) -> bool:
    if term.regex is not None:
        return any(term.regex.search(line) for line in haystack.split("\n"))
    if term.mode == "contains":
        return term.text in haystack
    lines = haystack.split("\n")
    if term.mode == "exact":
        return term.text in lines
    if term.mode == "prefix":
        return any(line.startswith(term.text) for line in lines)
    # "word": the whole value or one of its words ("reauth" in "reauth_required")
    return term.text in lines or any(term.text in _WORD_SPLIT.split(line) for line in lines)


# Fields whose text is one shared string per value (a status, a platform, a kind): a term's
# answer for that text holds for every row that has it.
_SHARED_FIELDS = frozenset({"status", "platform", "kind"})


def _tester(term: Term) -> Callable[[str], bool]:
    """`_hit` for `term`; for a shared field, answered once per distinct text (splitting
    every row's status into words made `status:r…` keystrokes the slowest at 50,000 rows,
    up to ~200 ms)."""
    if term.field not in _SHARED_FIELDS:
        return lambda haystack: _hit(term, haystack)
    known: dict[str, bool] = {}

    def hit(haystack: str) -> bool:
        found = known.get(haystack)
        if found is None:
            found = known[haystack] = _hit(term, haystack)
        return found

    return hit


def matches(row: AccountRow, spec: Filter) -> bool:
    if spec.problems_only and row.severity < Severity.WARNING:
        return False
    for term in spec.terms:
        haystack = row.search_text if term.field is None else row.search_fields[term.field]
        if _hit(term, haystack) == term.inverse:
            return False
    return True


def filter_rows(rows: list[AccountRow], spec: Filter) -> list[AccountRow]:
    """`matches` over a list, with a fast path for the common case (one plain word)."""
    if not spec.active:
        return rows
    if not spec.problems_only and len(spec.terms) == 1:
        term = spec.terms[0]
        if (
            term.field is None
            and term.mode == "contains"
            and term.regex is None
            and not term.inverse
        ):
            needle = term.text
            return [row for row in rows if needle in row.search_text]
    checks = [(term.field, _tester(term), term.inverse) for term in spec.terms]
    problems_only = spec.problems_only

    def keep(row: AccountRow) -> bool:
        if problems_only and row.severity < Severity.WARNING:
            return False
        for field, hit, inverse in checks:
            haystack = row.search_text if field is None else row.search_fields[field]
            if hit(haystack) == inverse:
                return False
        return True

    return [row for row in rows if keep(row)]


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
        # Longest unchecked first, never checked last.
        "checked": lambda r: (r.checked_at or _FAR_FUTURE, -int(r.severity), r.name.lower(), r.key),
        # Leased accounts first, worst first within each group.
        "leased": lambda r: (not r.leased, -int(r.severity), expiry(r), r.name.lower()),
    }
    return keys[column]


def sort_rows(rows: list[AccountRow], column: str, reverse: bool = False) -> list[AccountRow]:
    return sorted(rows, key=sort_key(column), reverse=reverse)

"""`layers-tui history` and `layers-tui journal`: what the local store remembers.

`history` lists account status changes (newest first) as the refresh loop recorded them;
`journal` lists operator actions (reauth links minted, completed or cancelled, connects,
revokes) with the profile, key id and host they were made with, and the project and account
by name where the store knows them (the journal records ids). Both read only the local
store of the current profile's API host and key, never the API. Every string from the API
goes through `text.safe`; `--json` prints one JSON object; the API key is never printed
(only its public key id). No Textual here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

from layers_tui.domain.status import PLATFORM_LABELS, Severity
from layers_tui.logs import redact
from layers_tui.text import emit, safe, safe_data

if TYPE_CHECKING:  # the parser imports this module: keep `--help` light
    from layers_tui.clock import Clock
    from layers_tui.config import Settings
    from layers_tui.session.store import Change, JournalEntry, Store

SCHEMA_VERSION = 1
DEFAULT_LIMIT = 1000
NAMES_BATCH = 500  # account ids per store query (well under SQLite's variable limit)


def since_argument(text: str) -> float:
    """argparse type for `--since 7d`: seconds back from now."""
    from layers_tui.check import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def limit_argument(text: str) -> int:
    """argparse type for `--limit N`: a whole number, 0 or more (0: no limit)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{safe(text, 40)!r} is not a number of entries (0 or more; 0 for all)"
        )
    return value


def add_arguments(
    commands: Any, common: argparse.ArgumentParser
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The `history` and `journal` subcommands on `commands` (argparse subparsers)."""
    history = commands.add_parser(
        "history",
        parents=[common],
        help="status changes recorded in the local store",
        description="Print account status changes (newest first) from the local store that "
        "the dashboard, sync and watch keep. Reads no API. Exit 0, also when there is "
        "nothing to show; 1 when --project matches no project; 2 for a bad config.",
    )
    which = history.add_mutually_exclusive_group()
    which.add_argument("--account", metavar="ID", help="only this account (its id)")
    which.add_argument(
        "--project", metavar="P", help="only this project (id, or name or part of it)"
    )
    journal = commands.add_parser(
        "journal",
        parents=[common],
        help="operator actions recorded in the local store",
        description="Print the journal of operator actions (reauth links minted, completed "
        "or cancelled, connects, revokes), newest first, with the profile, key id (never "
        "the key) and host they were made with. Reads no API.",
    )
    for parser in (history, journal):
        parser.add_argument(
            "--since",
            type=since_argument,
            metavar="DURATION",
            help="only the last DURATION, e.g. 7d, 24h, 90m (default: everything kept)",
        )
        parser.add_argument(
            "--limit",
            type=limit_argument,
            default=DEFAULT_LIMIT,
            metavar="N",
            help=f"at most N entries, newest first (default {DEFAULT_LIMIT}; 0 for all)",
        )
        parser.add_argument("--json", action="store_true", help="one JSON object")
    return history, journal


# -- reading -----------------------------------------------------------------------------------
def open_store(settings: Settings, now: datetime) -> Store | None:
    """The current profile's local store, or None when it does not exist yet (nothing is
    created by reading)."""
    from layers_tui import paths
    from layers_tui.api import key_id
    from layers_tui.session.session import open_store as open_session_store

    path = paths.store_path(settings.base_url, key_id(settings.api_key), settings.demo)
    if not path.exists():
        return None
    store, _problem = open_session_store(path, now)
    return store


def _iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    moment = datetime.fromtimestamp(stamp, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _severity(value: int | None) -> str | None:
    if value is None:
        return None
    try:
        return Severity(value).name.lower()
    except ValueError:
        return str(value)


def change_record(change: Change, project_name: str | None) -> dict[str, Any]:
    return safe_data(
        {
            "at": _iso(change.at),
            "projectId": change.project_id,
            "project": project_name,
            "kind": change.kind,
            "accountId": change.account_key,
            "platform": change.platform,
            "name": change.name,
            "oldStatus": change.old_status,
            "newStatus": change.new_status,
            "oldSeverity": _severity(change.old_severity),
            "newSeverity": _severity(change.new_severity),
        }
    )


def change_text(change: Change, project_name: str | None) -> str:
    platform = PLATFORM_LABELS.get(change.platform) or safe(change.platform, 20)
    where = f"{safe(project_name or change.project_id, 60)} / {platform}"
    who = safe(change.name or change.account_key, 60)
    old = safe(change.old_status, 30) if change.old_status else "(new)"
    new = safe(change.new_status, 30) if change.new_status else "(gone)"
    severity = _severity(change.new_severity) or "gone"
    return (
        f"{_iso(change.at)} {where} / {who} [{safe(change.account_key, 60)}]: "
        f"{old} -> {new} ({severity})"
    )


@dataclass(frozen=True)
class JournalNames:
    """What the store calls the projects and accounts journal entries name, by id."""

    projects: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)

    def project(self, entry: JournalEntry) -> str | None:
        return self.projects.get(entry.project_id) if entry.project_id else None

    def account(self, entry: JournalEntry) -> str | None:
        return self.accounts.get(entry.account_id) if entry.account_id else None


def journal_names(store: Store, entries: Sequence[JournalEntry]) -> JournalNames:
    """The names of the projects and accounts `entries` name, read from the store (read
    only): a listed project's name; an account's handle (a social account's display name
    when it has no handle) or an ad account's name, as last fetched, else as its last
    recorded status change says (an account no longer listed). Ids the store does not
    know are left out."""
    from layers_tui.models import AdAccount, SocialAccount

    project_ids = sorted({entry.project_id for entry in entries if entry.project_id})
    projects = {
        record.id: name
        for record in store.projects_by_id(project_ids).values()
        if (name := str(record.doc.get("name") or ""))
    }
    wanted = sorted({entry.account_id for entry in entries if entry.account_id})
    owners = {entry.project_id for entry in entries if entry.account_id}
    within = None if None in owners else sorted(pid for pid in owners if pid)
    accounts: dict[str, str] = {}
    for start in range(0, len(wanted), NAMES_BATCH):
        batch = wanted[start : start + NAMES_BATCH]
        condition = f"key IN ({','.join('?' * len(batch))})"
        for _project_id, kind, doc in store.accounts_where(condition, batch, project_ids=within):
            try:
                if kind == "social":
                    social = SocialAccount.model_validate(doc)
                    key, name = social.social_account_id, social.handle or social.display_name
                else:
                    ad = AdAccount.model_validate(doc)
                    key, name = ad.ad_account_id, ad.name
            except ValueError:  # pydantic's ValidationError: a record we cannot read
                continue
            if name:
                accounts[key] = name
    for account_id in wanted:
        if account_id not in accounts:
            named = (c.name for c in store.history(account_key=account_id) if c.name)
            if name := next(named, None):
                accounts[account_id] = name
    return JournalNames(projects, accounts)


def journal_record(entry: JournalEntry, names: JournalNames | None = None) -> dict[str, Any]:
    """One entry for --json: the ids as recorded, and the names the store knows them by
    (`project`, `accountName`; null when unknown)."""
    names = names or JournalNames()
    return safe_data(
        {
            "at": _iso(entry.at),
            "action": entry.action,
            "profile": entry.profile,
            "keyId": entry.key_id,
            "host": entry.host,
            "projectId": entry.project_id,
            "project": names.project(entry),
            "accountId": entry.account_id,
            "accountName": names.account(entry),
            "detail": entry.detail,
        }
    )


def _named(name: str | None, ident: str) -> str:
    """`name [id]` when the name is known, else the id."""
    return f"{safe(name, 60)} [{safe(ident, 60)}]" if name else safe(ident, 60)


def journal_text(entry: JournalEntry, names: JournalNames | None = None) -> str:
    names = names or JournalNames()
    parts = [
        _iso(entry.at) or "?",
        safe(entry.action, 40),
        f"profile={safe(entry.profile or 'default', 40)}",
        f"key={safe(entry.key_id or '?', 60)}",
        f"host={safe(entry.host or '?', 80)}",
    ]
    if entry.project_id:
        parts.append(f"project={_named(names.project(entry), entry.project_id)}")
    if entry.account_id:
        parts.append(f"account={_named(names.account(entry), entry.account_id)}")
    parts.extend(
        f"{safe(key, 40)}={safe(json.dumps(value) if not isinstance(value, str) else value, 120)}"
        for key, value in sorted(entry.detail.items())
    )
    return " ".join(parts)


def _since(now: datetime, seconds: float | None) -> datetime | None:
    return None if seconds is None else now - timedelta(seconds=seconds)


@dataclass(frozen=True)
class Output:
    """What a command prints: its exit code, the text for stdout (stderr when it failed),
    and a note for stderr (empty: none), such as "the list was cut at --limit"."""

    code: int
    text: str
    note: str = ""


def _probe(limit: int) -> int | None:
    """Rows to read for `--limit`: one more than shown, so a cut list is known to be cut."""
    return limit + 1 if limit else None


def cut_note(command: str, noun: str, limit: int) -> str:
    """The stderr note for a list cut at `--limit`: it never passes for the whole list."""
    return (
        f"layers-tui {command}: showing the newest {limit} {noun}; older ones were left out "
        f"(--limit N shows more, --limit 0 all, --since narrows the time)"
    )


def history_output(
    store: Store | None,
    now: datetime,
    *,
    account: str | None = None,
    project: str | None = None,
    since: float | None = None,
    limit: int = DEFAULT_LIMIT,
    as_json: bool = False,
) -> Output:
    """What `history` prints. A list cut at `limit` says so in the note (and, with --json,
    in `truncated`)."""
    from layers_tui.session.health import match_projects

    records = store.projects() if store is not None else []
    names = {record.id: str(record.doc.get("name") or "") or None for record in records}
    changes: list[Change] = []
    if store is not None:
        if project is not None:
            matched = match_projects(records, project)
            if not matched:
                message = f"no project matches {safe(project, 60)!r} ({len(records)} known)"
                return Output(1, _render_error(message, as_json))
            for record in matched:
                changes.extend(
                    store.history(
                        project_id=record.id, since=_since(now, since), limit=_probe(limit)
                    )
                )
            changes.sort(key=lambda change: change.at, reverse=True)
        else:
            changes = store.history(
                account_key=account, since=_since(now, since), limit=_probe(limit)
            )
    truncated = bool(limit) and len(changes) > limit
    changes = changes[:limit] if limit else changes
    note = cut_note("history", "status changes", limit) if truncated else ""
    if as_json:
        payload = {
            "schemaVersion": SCHEMA_VERSION,
            "changes": [change_record(c, names.get(c.project_id)) for c in changes],
            "truncated": truncated,
        }
        return Output(0, _json(payload), note)
    if not changes:
        return Output(0, "no status changes recorded" + ("" if store else " (no local store yet)"))
    return Output(0, "\n".join(change_text(c, names.get(c.project_id)) for c in changes), note)


def journal_output(
    store: Store | None,
    now: datetime,
    *,
    since: float | None = None,
    limit: int = DEFAULT_LIMIT,
    as_json: bool = False,
) -> Output:
    """What `journal` prints; a list cut at `limit` says so, as in `history_output`."""
    entries = store.journal(since=_since(now, since), limit=_probe(limit)) if store else []
    truncated = bool(limit) and len(entries) > limit
    entries = entries[:limit] if limit else entries
    note = cut_note("journal", "entries", limit) if truncated else ""
    names = journal_names(store, entries) if store is not None else JournalNames()
    if as_json:
        payload = {
            "schemaVersion": SCHEMA_VERSION,
            "entries": [journal_record(entry, names) for entry in entries],
            "truncated": truncated,
        }
        return Output(0, _json(payload), note)
    if not entries:
        return Output(
            0, "no operator actions recorded" + ("" if store else " (no local store yet)")
        )
    return Output(0, "\n".join(journal_text(entry, names) for entry in entries), note)


def _json(payload: dict[str, Any]) -> str:
    # A key cannot reach the store through our code; redact anyway, as the log does.
    return redact(json.dumps(payload, ensure_ascii=True))


def _render_error(message: str, as_json: bool) -> str:
    if as_json:
        return _json({"schemaVersion": SCHEMA_VERSION, "error": {"message": message}})
    return f"layers-tui history: {message}"


# -- the commands ----------------------------------------------------------------------------
def run(
    args: argparse.Namespace,
    settings: Settings,
    out: TextIO,
    err: TextIO,
    clock: Clock | None = None,
) -> int:
    """`history` or `journal` (by `args.command`): print, return the exit code."""
    from layers_tui.clock import SystemClock

    now = (clock or SystemClock()).now()
    store = open_store(settings, now)
    try:
        if args.command == "history":
            output = history_output(
                store,
                now,
                account=args.account,
                project=args.project,
                since=args.since,
                limit=args.limit,
                as_json=args.json,
            )
        else:
            output = journal_output(
                store, now, since=args.since, limit=args.limit, as_json=args.json
            )
    finally:
        if store is not None:
            store.close()
    emit(out if output.code == 0 or args.json else err, redact(output.text) + "\n")
    if output.note:
        emit(err, redact(output.note) + "\n")
    return output.code

"""What `connect` and `reauth` on the command line point at, found before any screen opens.

`connect PROJECT PLATFORM` takes a project id or name (as `check --project` does); `reauth
ACCOUNT` takes a social account id or an ad account id. A target that cannot be found is a
`TargetError` with one line to print: the CLI fails like a CLI, the dashboard never opens.
No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from layers_tui.api import ApiError, LayersClient, format_error
from layers_tui.domain.status import AccountRow, ad_row, social_row
from layers_tui.flows.budget import RequestBudget
from layers_tui.inventory import load_project, load_projects
from layers_tui.models import Project
from layers_tui.text import safe

SHOWN_MATCHES = 5


class TargetError(Exception):
    """A target the command line named that does not exist or is ambiguous (one line)."""


@dataclass(frozen=True)
class ReauthTarget:
    row: AccountRow
    timezone: str


def match_project(projects: Sequence[Project], wanted: str) -> Project:
    """The one project `wanted` names: its id (exact), else its name (exact, then a part of
    it), case-insensitively. None, or several: `TargetError` saying which."""
    needle = wanted.strip().lower()
    if not needle:
        raise TargetError("no project given")
    for found in (
        [p for p in projects if p.id.lower() == needle],
        [p for p in projects if p.name.lower() == needle],
        [p for p in projects if needle in p.name.lower()],
    ):
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(
                f"{safe(p.name, 40)} ({safe(p.id, 40)})" for p in found[:SHOWN_MATCHES]
            )
            more = f" and {len(found) - SHOWN_MATCHES} more" if len(found) > SHOWN_MATCHES else ""
            raise TargetError(
                f"{len(found)} projects match {safe(wanted, 60)!r}: {names}{more}; give the id"
            )
    raise TargetError(
        f"no project with id or name {safe(wanted, 60)!r} in this organisation "
        "(`layers-tui check` or the dashboard lists them)"
    )


async def find_project(client: LayersClient, wanted: str) -> Project:
    try:
        return match_project(await load_projects(client), wanted)
    except ApiError as error:
        raise TargetError(f"cannot list projects: {format_error(error)}") from None


async def find_account(
    client: LayersClient,
    account_id: str,
    now: datetime,
    known_project: str | None = None,
    progress: Callable[[str], None] | None = None,
    announce_over: int = 20,
    fresh_without_it: Collection[str] = (),
    budget: RequestBudget | None = None,
) -> ReauthTarget:
    """The social or ad account with `account_id`, as the row the dashboard's `r` would
    reconnect. `known_project`: where the local store last saw it, asked first (two list
    requests); otherwise, or if it moved, the other projects are asked in turn (two
    requests each, paced by `budget` so the key's other users see no 429, told through
    `progress` when more than `announce_over` are left, since on a large organisation that
    takes minutes), except `fresh_without_it`: projects the store has fresh lists of
    without the account."""
    wanted = account_id.strip()
    try:
        projects = await load_projects(client)
        first = [p for p in projects if p.id == known_project]
        rest = [p for p in projects if p.id != known_project and p.id not in fresh_without_it]
        for index, project in enumerate([*first, *rest]):
            if progress is not None and index == len(first) and len(rest) > announce_over:
                paced = f", at most {budget.per_minute} a minute" if budget else ""
                progress(
                    f"looking for {safe(wanted, 60)} in {len(rest)} projects (2 requests "
                    f"each{paced}; the local store did not know it); ctrl+c stops"
                )
            if budget is not None:
                await budget.acquire("background", cost=2)
            snapshot = await load_project(client, project, now)
            for account in snapshot.social:
                if account.social_account_id == wanted:
                    return ReauthTarget(social_row(account, project, now), project.timezone)
            for ad in snapshot.ads:
                if ad.ad_account_id == wanted:
                    return ReauthTarget(ad_row(ad, project), project.timezone)
    except ApiError as error:
        raise TargetError(f"cannot list accounts: {format_error(error)}") from None
    skipped = (
        f" ({len(fresh_without_it)} of its projects from the local store's lists of the "
        "last 10 min; `layers-tui sync` reads them again)"
        if fresh_without_it
        else ""
    )
    raise TargetError(
        f"no social or ad account {safe(wanted, 60)!r} in this organisation{skipped} (the id "
        "column of the dashboard, `y` there copies it, or `layers-tui check --json`)"
    )


def check_reauthable(target: ReauthTarget) -> ReauthTarget:
    row = target.row
    if not row.can_reauth:
        why = (
            "it is leased (managed by Layers)"
            if row.leased
            else "it is disconnected; use `layers-tui connect` for a new connection"
        )
        raise TargetError(f"cannot reconnect {safe(row.name, 40)}: {why}")
    return target

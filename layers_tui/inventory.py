"""Loading an organisation's accounts: projects, then each project's lists concurrently.

Shared by the `check` command and the dashboard's refresh worker; no Textual here. One
project's failure, whatever it is, stays with that project: every other project still loads.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from layers_tui.api import ApiError, LayersClient
from layers_tui.api.paging import collect_pages, fan_out
from layers_tui.domain.status import AccountRow, Thresholds, ad_row, social_row
from layers_tui.logs import redact
from layers_tui.models import AdAccount, InvalidItem, Project, SocialAccount

log = logging.getLogger("layers_tui.inventory")


@dataclass(frozen=True, eq=False)
class DocumentsHash:
    """A hash of the account documents a snapshot's lists were parsed from (the store's
    `documents_hash`): equal hashes mean equal accounts, so a quiet refresh is recognised
    without comparing every account model (64 bits: collisions are negligible). It names
    the lists it was made for, so it never vouches for other ones."""

    value: int
    social: tuple[SocialAccount, ...]
    ads: tuple[AdAccount, ...]


@dataclass(frozen=True)
class ProjectSnapshot:
    """One project's lists as last fetched; `error` set when this fetch failed."""

    project: Project
    social: tuple[SocialAccount, ...] = ()
    ads: tuple[AdAccount, ...] = ()
    invalid: tuple[InvalidItem, ...] = ()
    error: ApiError | None = None
    fetched_at: datetime | None = None
    documents: DocumentsHash | None = field(default=None, compare=False)

    @property
    def documents_hash(self) -> int | None:
        """The hash of the documents `social` and `ads` were parsed from, when known and
        made for these very lists (a copy with other lists made by `replace` has none)."""
        known = self.documents
        if known is None or known.social is not self.social or known.ads is not self.ads:
            return None
        return known.value

    def with_documents_hash(self, value: int) -> ProjectSnapshot:
        return replace(self, documents=DocumentsHash(value, self.social, self.ads))

    def rows(self, now: datetime, thresholds: Thresholds) -> list[AccountRow]:
        rows = [
            social_row(account, self.project, now, thresholds, self.fetched_at)
            for account in self.social
        ]
        rows.extend(ad_row(account, self.project) for account in self.ads)
        return rows


@dataclass
class Inventory:
    """`projects` is the list as the API sent it; `duplicates` the entries whose id came
    earlier in it (loaded once, reported, never dropped silently)."""

    projects: list[Project] = field(default_factory=list)
    snapshots: dict[str, ProjectSnapshot] = field(default_factory=dict)
    duplicates: list[Project] = field(default_factory=list)

    def rows(self, now: datetime, thresholds: Thresholds) -> list[AccountRow]:
        return [row for snap in self.snapshots.values() for row in snap.rows(now, thresholds)]

    @property
    def failed(self) -> list[ProjectSnapshot]:
        return [snap for snap in self.snapshots.values() if snap.error is not None]


def split_duplicates(projects: Iterable[Project]) -> tuple[list[Project], list[Project]]:
    """(first entry of every id, in order; every later entry with an id already seen)."""
    unique: dict[str, Project] = {}
    duplicates: list[Project] = []
    for project in projects:
        if project.id in unique:
            duplicates.append(project)
        else:
            unique[project.id] = project
    return list(unique.values()), duplicates


def as_api_error(error: BaseException, where: str) -> ApiError:
    """`error` itself when it is an `ApiError`; anything else (a bug, a surprise from a
    library) becomes `INTERNAL_CLIENT` with its type named, its redacted traceback logged."""
    if isinstance(error, ApiError):
        return error
    detail = "".join(traceback.format_exception(error))
    log.error("unexpected error loading %s: %s", where, redact(detail))
    return ApiError(
        None,
        "INTERNAL_CLIENT",
        f"unexpected {type(error).__name__} in layers-tui while loading {where} "
        "(details in the log file)",
    )


async def load_projects(client: LayersClient) -> list[Project]:
    """The project list as sent, duplicates included (see `split_duplicates`)."""
    page = await collect_pages(
        lambda cursor: client.list_projects(cursor, 200),
        what="the project list",
        monotonic=client.clock.monotonic,
    )
    return list(page.items)


async def load_project(client: LayersClient, project: Project, now: datetime) -> ProjectSnapshot:
    """Social and ad lists of one project, fetched together. Raises only `ApiError`."""
    try:
        social, ads = await asyncio.gather(
            collect_pages(
                lambda cursor: client.list_social_accounts(project.id, cursor),
                what=f"social accounts of project {project.id}",
                monotonic=client.clock.monotonic,
            ),
            client.list_ad_accounts(project.id),
        )
    except Exception as error:
        raise as_api_error(error, f"project {project.id}") from error
    return ProjectSnapshot(
        project,
        tuple(social.items),
        tuple(ads.items),
        tuple(social.invalid) + tuple(ads.invalid),
        None,
        now,
    )


async def load_inventory(
    client: LayersClient,
    now: Callable[[], datetime],
    concurrency: int,
    on_snapshot: Callable[[ProjectSnapshot], None] | None = None,
    projects: list[Project] | None = None,
) -> Inventory:
    """Every project's snapshot (of `projects` when given, else of the organisation's list);
    a project that failed carries its error."""
    listed = await load_projects(client) if projects is None else list(projects)
    unique, duplicates = split_duplicates(listed)
    inventory = Inventory(projects=listed, duplicates=duplicates)

    async def fetch(project: Project) -> ProjectSnapshot:
        return await load_project(client, project, now())

    async for project, result in fan_out(unique, fetch, concurrency):
        if isinstance(result, ProjectSnapshot):
            snapshot = result
        else:
            error = as_api_error(result, f"project {project.id}")
            snapshot = ProjectSnapshot(project, error=error, fetched_at=now())
        inventory.snapshots[project.id] = snapshot
        if on_snapshot is not None:
            on_snapshot(snapshot)
    return inventory

"""Loading an organisation's accounts: projects, then each project's lists concurrently.

Shared by the `check` command and the dashboard's refresh worker; no Textual here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from layers_tui.api import ApiError, LayersClient
from layers_tui.api.paging import collect_pages, fan_out
from layers_tui.domain.status import AccountRow, Thresholds, ad_row, social_row
from layers_tui.models import AdAccount, InvalidItem, Project, SocialAccount


@dataclass(frozen=True)
class ProjectSnapshot:
    """One project's lists as last fetched; `error` set when this fetch failed."""

    project: Project
    social: tuple[SocialAccount, ...] = ()
    ads: tuple[AdAccount, ...] = ()
    invalid: tuple[InvalidItem, ...] = ()
    error: ApiError | None = None
    fetched_at: datetime | None = None

    def rows(self, now: datetime, thresholds: Thresholds) -> list[AccountRow]:
        rows = [
            social_row(account, self.project, now, thresholds, self.fetched_at)
            for account in self.social
        ]
        rows.extend(ad_row(account, self.project) for account in self.ads)
        return rows


@dataclass
class Inventory:
    projects: list[Project] = field(default_factory=list)
    snapshots: dict[str, ProjectSnapshot] = field(default_factory=dict)

    def rows(self, now: datetime, thresholds: Thresholds) -> list[AccountRow]:
        return [row for snap in self.snapshots.values() for row in snap.rows(now, thresholds)]

    @property
    def failed(self) -> list[ProjectSnapshot]:
        return [snap for snap in self.snapshots.values() if snap.error is not None]


async def load_projects(client: LayersClient) -> list[Project]:
    page = await collect_pages(lambda cursor: client.list_projects(cursor, 200))
    return list(page.items)


async def load_project(client: LayersClient, project: Project, now: datetime) -> ProjectSnapshot:
    """Social and ad lists of one project, fetched together."""
    social, ads = await asyncio.gather(
        client.all_social_accounts(project.id), client.list_ad_accounts(project.id)
    )
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
) -> Inventory:
    inventory = Inventory(projects=await load_projects(client))

    async def fetch(project: Project) -> ProjectSnapshot:
        return await load_project(client, project, now())

    async for project, result in fan_out(inventory.projects, fetch, concurrency):
        if isinstance(result, ProjectSnapshot):
            snapshot = result
        elif isinstance(result, ApiError):
            snapshot = ProjectSnapshot(project, error=result, fetched_at=now())
        else:
            raise result
        inventory.snapshots[project.id] = snapshot
        if on_snapshot is not None:
            on_snapshot(snapshot)
    return inventory

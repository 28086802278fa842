"""One project's failure, whatever it is, stays with that project; no row is lost silently;
a list that never ends is cut and named."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from layers_tui.api import ApiError
from layers_tui.api.paging import (
    MAX_PAGES,
    PaginationLimitError,
    collect_pages,
    follow_pages,
)
from layers_tui.check import CheckScope, run_check
from layers_tui.clock import FakeClock
from layers_tui.domain.status import Thresholds
from layers_tui.inventory import load_inventory, load_project
from layers_tui.models import Page, Project
from tests.unit.fake_api import FakeApi, social


def four_projects() -> FakeApi:
    api = FakeApi()
    for index in range(1, 5):
        api.add_project(f"p_{index}", f"Project {index}")
        api.social[f"p_{index}"] = [social(f"s_{index}", f"handle_{index}")]
    return api


async def test_a_non_api_exception_stays_with_its_project(caplog, monkeypatch):
    api = four_projects()
    async with api.client() as client:
        real = client.list_ad_accounts

        async def flaky(project_id, *args, **kwargs):
            if project_id == "p_2":
                raise KeyError("lp_live_KEYID_topsecret")
            return await real(project_id, *args, **kwargs)

        monkeypatch.setattr(client, "list_ad_accounts", flaky)
        with caplog.at_level(logging.ERROR, logger="layers_tui"):
            inventory = await load_inventory(client, client.clock.now, 4)
            code, text = await run_check(
                client, client.clock.now, Thresholds(), CheckScope(), False, 4
            )
    assert set(inventory.snapshots) == {"p_1", "p_2", "p_3", "p_4"}
    failed = inventory.snapshots["p_2"]
    assert isinstance(failed.error, ApiError) and failed.error.code == "INTERNAL_CLIENT"
    assert "KeyError" in failed.error.message
    assert all(inventory.snapshots[p].error is None for p in ("p_1", "p_3", "p_4"))
    assert len(inventory.rows(client.clock.now(), Thresholds())) == 3
    assert code == 2 and "CRITICAL: project Project 2 [p_2] did not load: INTERNAL_CLIENT" in text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Traceback" in logged and "KeyError" in logged
    assert "topsecret" not in logged and "lp_live_KEYID_…" in logged


async def test_load_project_raises_only_api_errors(monkeypatch):
    """The dashboard's refresh counts on this: anything else used to stop every project."""
    api = four_projects()
    async with api.client() as client:

        async def broken(*args, **kwargs):
            raise TypeError("surprise")

        monkeypatch.setattr(client, "list_social_accounts", broken)
        with pytest.raises(ApiError) as caught:
            await load_project(client, Project(id="p_1", name="Project 1"), client.clock.now())
    assert caught.value.code == "INTERNAL_CLIENT"


async def test_duplicate_project_ids_are_reported_not_dropped():
    api = four_projects()
    api.projects[3] = {"id": "p_1", "name": "Project 1 again", "timezone": "UTC"}
    async with api.client() as client:
        inventory = await load_inventory(client, client.clock.now, 4)
        code, text = await run_check(client, client.clock.now, Thresholds(), CheckScope(), False, 4)
        _, as_json = await run_check(client, client.clock.now, Thresholds(), CheckScope(), True, 4)
    assert len(inventory.projects) == 4
    assert [p.name for p in inventory.duplicates] == ["Project 1 again"]
    assert code == 1
    head = text.splitlines()[0]
    assert "across 3 projects; 1 duplicate project id(s) (4 listed)" in head
    assert "duplicate_projects=1" in head
    assert "WARNING: project id p_1 is listed more than once (also as 'Project 1 again')" in text
    report = json.loads(as_json)
    assert report["summary"]["duplicateProjects"] == 1
    assert report["duplicateProjects"] == [{"projectId": "p_1", "name": "Project 1 again"}]
    assert api.paths.count("/v1/projects/p_1/social-accounts") == 3  # once per load


async def test_unreadable_account_records_are_reported():
    api = four_projects()
    api.social["p_3"].append({"socialAccountId": "s_bad"})  # no platform, handle, status
    async with api.client() as client:
        code, text = await run_check(client, client.clock.now, Thresholds(), CheckScope(), False, 4)
    assert code == 1
    assert "1 unreadable account record(s)" in text.splitlines()[0]
    assert "WARNING: project Project 3: 1 account record(s) could not be read" in text


# -- paging -------------------------------------------------------------------------------------
def endless(calls: list[str | None], clock: FakeClock | None = None, step: float = 0.0):
    async def fetch(cursor: str | None) -> Page:
        calls.append(cursor)
        if clock is not None:
            clock.advance(step)
        return Page[Any](items=[len(calls)], next_cursor=f"c{len(calls)}")

    return fetch


async def test_endless_cursors_stop_at_the_page_bound_and_name_the_list():
    calls: list[str | None] = []
    with pytest.raises(PaginationLimitError) as caught:
        await collect_pages(endless(calls), what="social accounts of project p_9")
    assert len(calls) == MAX_PAGES == 1_000
    error = caught.value
    assert isinstance(error, ApiError) and error.code == "PAGINATION_LIMIT"
    assert "social accounts of project p_9" in error.message and "1000 pages" in error.message


async def test_endless_cursors_stop_at_the_time_bound():
    clock = FakeClock()
    calls: list[str | None] = []
    pages = follow_pages(
        endless(calls, clock, step=10.0), what="the project list", monotonic=clock.monotonic
    )
    with pytest.raises(PaginationLimitError, match="the project list did not end after 30"):
        async for _ in pages:
            pass
    assert len(calls) == 30  # 300 s at 10 s a page


async def test_a_repeated_cursor_still_ends_the_list():
    cursors = iter(["a", "b", "a"])

    async def fetch(cursor: str | None) -> Page:
        return Page[Any](items=[cursor], next_cursor=next(cursors))

    page = await collect_pages(fetch)
    assert page.items == [None, "a", "b"]


async def test_check_with_an_endless_list_finishes_and_says_which_list(monkeypatch):
    monkeypatch.setattr("layers_tui.api.paging.MAX_PAGES", 25)
    api = four_projects()

    def never_ending(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor") or "c0"
        following = f"c{int(cursor[1:]) + 1}"
        return httpx.Response(200, json={"items": [], "nextCursor": following})

    api.routes["/v1/projects/p_3/social-accounts"] = never_ending
    async with api.client() as client:
        code, text = await run_check(client, client.clock.now, Thresholds(), CheckScope(), False, 4)
    assert code == 2
    assert (
        "CRITICAL: project Project 3 [p_3] did not load: PAGINATION_LIMIT: social accounts of "
        "project p_3 did not end after 25 pages" in text
    )
    assert api.paths.count("/v1/projects/p_3/social-accounts") == 25
    assert "3 ok" in text.splitlines()[0]


async def test_an_endless_project_list_is_critical_and_named(monkeypatch):
    monkeypatch.setattr("layers_tui.api.paging.MAX_PAGES", 5)
    api = four_projects()
    api.routes["/v1/projects"] = lambda request: httpx.Response(
        200,
        json={"items": [], "nextCursor": f"n{len(api.paths)}"},
    )
    async with api.client() as client:
        code, text = await run_check(client, client.clock.now, Thresholds(), CheckScope(), False, 4)
    assert code == 2
    assert text.startswith(
        "LAYERS CRITICAL - API list did not end: PAGINATION_LIMIT: the project list did not end"
    )

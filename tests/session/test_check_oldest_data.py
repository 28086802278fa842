"""`check`'s oldest data: `oldestDataAt` is when the oldest data among the counted projects
was fetched, fresh or stale, and null only when none of them has data; the text output's
"oldest data from" names the same moment."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

from layers_tui.check import OK, UNKNOWN, CheckScope, Freshness, check_session, oldest_data_at
from layers_tui.domain.status import Thresholds
from layers_tui.session.health import match_projects
from layers_tui.session.store import Store, from_epoch
from layers_tui.watch import run_sync
from tests.monitoring.test_check_nagios import VALIDATOR
from tests.session.test_store import NOW

TIGHT = Thresholds(warn_seconds=86_400, crit_seconds=3600)  # bloom is all OK with these


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def report_of(session, scope=None, freshness=None, thresholds=None) -> dict:
    result = await check_session(
        session, thresholds or Thresholds(), scope or CheckScope(), freshness or Freshness(), True
    )
    report = json.loads(result.render(True))
    VALIDATOR.validate(report)
    return report


async def text_of(session, scope=None, freshness=None, thresholds=None) -> tuple[int, str]:
    result = await check_session(
        session, thresholds or Thresholds(), scope or CheckScope(), freshness or Freshness()
    )
    return result.code, result.render(False)


def test_oldest_data_at_reads_the_earliest_refresh_of_the_counted_projects():
    store = Store.memory()
    store.replace_projects([{"id": f"p{n}", "name": f"P{n}"} for n in (1, 2, 3, 4)], NOW)
    store.save_project("p1", [], [], NOW - timedelta(hours=3))
    store.save_project("p2", [], [], NOW - timedelta(hours=1))
    # a failed attempt keeps the last good data, and its time
    store.save_project_error("p2", {"code": "INTERNAL"}, NOW)
    store.save_project_error("p3", {"code": "INTERNAL"}, NOW)  # never had data
    # p4: never tried
    assert oldest_data_at(store, None) == (NOW - timedelta(hours=3)).timestamp()
    assert oldest_data_at(store, ["p2", "p3", "p4"]) == (NOW - timedelta(hours=1)).timestamp()
    assert oldest_data_at(store, ["p3", "p4"]) is None
    assert oldest_data_at(store, []) is None
    assert oldest_data_at(Store.memory(), None) is None


async def test_fresh_data_reports_its_oldest_time(make_session, fake_clock):
    """The walk's case: everything synced and fresh, and oldestDataAt was null."""
    started = fake_clock.now()
    assert await run_sync(make_session(), io.StringIO()) == 0
    fake_clock.advance(4 * 60)
    keeper = make_session()
    first = min(r.refreshed_at for r in keeper.store.projects() if r.refreshed_at is not None)
    synced_at = from_epoch(first)
    assert synced_at is not None and started <= synced_at < started + timedelta(seconds=30)
    bloom = match_projects(keeper.store.projects(), "bloom")[0].id
    await keeper.inventory.refresh([bloom])  # one project 4 minutes younger than the rest
    bloom_at = fake_clock.now()
    fake_clock.advance(60)

    report = await report_of(make_session())
    summary = report["summary"]
    assert summary["staleProjects"] == 0 and summary["refreshedProjects"] == 0
    assert summary["oldestDataAt"] == iso(synced_at)

    narrowed = await report_of(make_session(), CheckScope(project=bloom), thresholds=TIGHT)
    assert narrowed["status"] == "OK" and narrowed["summary"]["projects"] == 1
    assert narrowed["summary"]["oldestDataAt"] == iso(bloom_at)

    code, text = await text_of(make_session())
    assert "stale" not in text.splitlines()[0]  # fresh: the status line stays short


async def test_stale_text_and_json_name_the_same_oldest_moment(make_session, fake_clock):
    assert await run_sync(make_session(), io.StringIO()) == 0
    bloom = match_projects(make_session().store.projects(), "bloom")[0]
    synced_at = from_epoch(bloom.refreshed_at)
    assert synced_at is not None
    assert make_session().inventory.take_lease()  # another process holds it, and is silent
    fake_clock.advance(11 * 60)

    code, text = await text_of(
        make_session(), CheckScope(project="bloom"), Freshness(timeout=3), TIGHT
    )
    assert code == OK
    assert "1 of 1 project(s) stale (oldest data from 11 min ago)" in text.splitlines()[0]
    report = await report_of(
        make_session(), CheckScope(project="bloom"), Freshness(timeout=3), TIGHT
    )
    assert report["exitCode"] == OK and report["summary"]["staleProjects"] == 1
    assert report["summary"]["oldestDataAt"] == iso(synced_at)
    checked_at = datetime.fromisoformat(report["checkedAt"])
    oldest = datetime.fromisoformat(report["summary"]["oldestDataAt"])
    assert timedelta(minutes=11) <= checked_at - oldest < timedelta(minutes=12)


async def test_no_data_at_all_is_null(make_session):
    report = await report_of(make_session(), freshness=Freshness(timeout=0))
    assert report["status"] == "UNKNOWN" and report["summary"]["noDataProjects"] == 6
    assert report["summary"]["oldestDataAt"] is None
    code, text = await text_of(make_session(), freshness=Freshness(timeout=0))
    assert code == UNKNOWN and "oldest data" not in text


async def test_projects_without_data_leave_the_oldest_to_those_with_data(make_session, fake_clock):
    keeper = make_session()
    await keeper.inventory.list_projects()
    bloom = match_projects(keeper.store.projects(), "bloom")[0].id
    await keeper.inventory.refresh([bloom])
    bloom_at = from_epoch(keeper.store.project(bloom).refreshed_at)
    fake_clock.advance(60)

    report = await report_of(make_session(), freshness=Freshness(timeout=0))
    assert report["summary"]["noDataProjects"] == 5 and report["summary"]["projects"] == 6
    assert report["summary"]["oldestDataAt"] == iso(bloom_at)
    code, text = await text_of(make_session(), freshness=Freshness(timeout=0))
    head = text.splitlines()[0]
    # bloom's data is fresh: the stale part names only the projects without data
    assert code == UNKNOWN and "5 of 6 project(s) stale (5 with no data yet)" in head

"""`check` over the local store: fresh data costs no list requests, old data is refreshed
within the budget and the time limit (ourselves under the lease, or by asking the holder),
and what could not be refreshed is reported stale by the stale rule."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layers_tui.check import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARNING,
    CheckScope,
    Freshness,
    check_session,
    exit_code,
)
from layers_tui.clock import FakeClock
from layers_tui.config import Settings
from layers_tui.domain.status import Severity, Summary, Thresholds, summarize
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import Project, SocialAccount
from layers_tui.sandbox import SandboxClock, create_app
from layers_tui.session.health import health
from layers_tui.session.inventory import stored_accounts
from layers_tui.session.session import Session
from layers_tui.session.store import Store
from layers_tui.watch import run_sync
from tests.conftest import BASE, START
from tests.session.conftest import CountingTransport
from tests.session.test_health import STATUSES, ads
from tests.session.test_store import NOW

DEMO_HEAD = "8 critical, 3 warning, 11 ok, 2 disconnected across 6 projects"
TIGHT = Thresholds(warn_seconds=86_400, crit_seconds=3600)  # bloom is all OK with these


async def filled(make_session) -> None:
    filler = make_session()
    assert await run_sync(filler, io.StringIO()) == 0


async def run(session, scope=None, freshness=None, thresholds=None, as_json=False):
    result = await check_session(
        session,
        thresholds or Thresholds(),
        scope or CheckScope(),
        freshness or Freshness(),
        as_json,
    )
    return result.code, result.render(as_json)


# -- the rule, as a pure function -------------------------------------------------------------
@pytest.mark.parametrize(
    ("fresh", "stale", "unseen", "expected"),
    [
        (Summary(ok=3), Summary(), 0, OK),
        (Summary(ok=3), Summary(ok=2), 0, OK),  # stale data without a problem: as it is
        (Summary(ok=3), Summary(critical=1), 0, UNKNOWN),  # a problem seen only in stale data
        (Summary(warning=1), Summary(critical=1), 0, UNKNOWN),
        (Summary(warning=1), Summary(warning=2), 0, WARNING),  # fresh data says as much
        (Summary(critical=1), Summary(critical=4), 0, CRITICAL),
        (Summary(ok=3), Summary(), 2, UNKNOWN),  # no data at all for two projects
        (Summary(warning=1), Summary(), 1, UNKNOWN),
        (Summary(critical=1), Summary(), 5, CRITICAL),  # cannot get worse
    ],
)
def test_stale_rule(fresh, stale, unseen, expected):
    assert exit_code(fresh, 0, 0, 0, stale, unseen) == expected


def test_a_failed_project_stays_critical_even_with_stale_data():
    assert exit_code(Summary(ok=1), 1, 0, 0, Summary(critical=1), 3) == CRITICAL


MOMENTS = [0, 1800, 3600, 86_400, 2 * 86_400, 3 * 86_400, 7 * 86_400, 8 * 86_400]


@st.composite
def social(draw, number: int) -> SocialAccount:
    """Token expiries around the thresholds below (within ten days either way)."""
    offset = draw(st.one_of(st.none(), st.sampled_from(MOMENTS), st.integers(-86_400, 9 * 86_400)))
    return SocialAccount(
        social_account_id=f"sa_{number}",
        platform="tiktok",
        handle=f"h{number}",
        status=draw(STATUSES),
        token_expires_at=None if offset is None else NOW + timedelta(seconds=offset),
    )


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_sql_counts_stale_split_and_problem_limit_agree_with_the_domain_rules(data):
    """Any thresholds (a critical window wider than the warning one too), two projects of
    which one is stale, and only the worst few problem rows built."""
    thresholds = Thresholds(
        data.draw(st.sampled_from(MOMENTS)), data.draw(st.sampled_from(MOMENTS))
    )
    store = Store.memory()
    store.replace_projects([{"id": "p1", "name": "One"}, {"id": "p2", "name": "Two"}], NOW)
    expected_rows = {}
    for index, pid in enumerate(("p1", "p2")):
        socials = tuple(
            data.draw(social(100 * index + n)) for n in range(data.draw(st.integers(0, 8)))
        )
        adverts = tuple(
            data.draw(ads(100 * index + n)) for n in range(data.draw(st.integers(0, 4)))
        )
        snapshot = ProjectSnapshot(Project(id=pid, name=pid), socials, adverts, (), None, NOW)
        at = NOW - timedelta(hours=2 if pid == "p2" else 0)
        store.save_project(pid, stored_accounts(snapshot, at, Thresholds()), [], at)
        expected_rows[pid] = snapshot.rows(NOW, thresholds)
    limit = data.draw(st.integers(0, 5))
    report = health(
        store, NOW, thresholds, stale_before=NOW.timestamp() - 3600, problem_limit=limit
    )
    everything = summarize(expected_rows["p1"] + expected_rows["p2"])
    stale = summarize(expected_rows["p2"])
    assert report.summary == everything
    assert [r.id for r in report.stale] == ["p2"]
    assert report.stale_summary == Summary(critical=stale.critical, warning=stale.warning)
    shown = report.problems
    assert len(shown) == min(limit, everything.critical + everything.warning)
    assert all(row.severity >= Severity.WARNING for row in shown)
    if shown and everything.critical >= len(shown):
        assert all(row.severity == Severity.CRITICAL for row in shown)  # worst first
    # Extra conditions are counted in the same pass, as a query of their own would.
    conditions = [
        ("kind = 'social' AND expires_at > ?", [NOW.timestamp()]),
        ("platform = 'tiktok' AND status = 'connected'", []),
    ]
    counted = health(store, NOW, thresholds, counts=conditions).counts
    assert counted == tuple(store.count_where(sql, params) for sql, params in conditions)
    expiry = store.min_expiry()
    assert report.min_expiry_seconds == (None if expiry is None else expiry - NOW.timestamp())


# -- the store --------------------------------------------------------------------------------
async def test_a_fresh_store_costs_one_whoami_and_no_list_request(make_session, sandbox_app):
    await filled(make_session)
    transport = CountingTransport(sandbox_app)
    session = make_session(transport=transport)
    code, text = await run(session)
    assert code == CRITICAL and text.startswith(f"LAYERS CRITICAL - {DEMO_HEAD} |")
    assert "stale" not in text.splitlines()[0]
    assert transport.lists == 0 and dict(transport.paths) == {"/v1/whoami": 1}
    code, text = await run(session, as_json=True)
    report = json.loads(text)
    assert report["summary"]["staleProjects"] == 0 and len(report["accounts"]) == 24
    assert transport.lists == 0


async def test_only_projects_older_than_max_age_are_refreshed(
    make_session, fake_clock, sandbox_app
):
    await filled(make_session)
    fake_clock.advance(6 * 60)
    keeper = make_session()
    first = keeper.store.projects()[0].id
    await keeper.inventory.refresh([first])  # one project 6 minutes younger than the rest
    fake_clock.advance(5 * 60)
    transport = CountingTransport(sandbox_app)
    session = make_session(transport=transport)
    code, text = await run(session)
    assert code == CRITICAL and DEMO_HEAD in text.splitlines()[0]
    assert transport.paths["/v1/projects"] == 1  # the list itself was 11 minutes old
    assert not [path for path in transport.paths if f"/{first}/" in path]
    assert transport.lists == 1 + 5 * 2
    assert session.store.lease_holder(10**12 - 1) is None  # released


async def test_stale_data_with_a_holder_that_does_not_answer_is_unknown(
    make_session, fake_clock, sandbox_app
):
    await filled(make_session)
    holder = make_session()
    assert holder.inventory.take_lease()
    fake_clock.advance(11 * 60)
    transport = CountingTransport(sandbox_app)
    session = make_session(transport=transport)
    started = fake_clock.monotonic()
    code, text = await run(session)
    assert code == UNKNOWN
    head = text.splitlines()[0]
    assert head.startswith(f"LAYERS UNKNOWN - {DEMO_HEAD}; 6 of 6 project(s) stale")
    assert "oldest data from 11 min ago" in head
    assert "8 critical and 3 warning from stale data" in head
    assert "(stale: data from 11 min ago)" in text
    last = text.splitlines()[-1]
    assert f"pid {os.getpid()} (" in last and "holds the refresh lease" in last
    assert "asked it for the 6 due and 0 were refreshed within the 20 s time limit" in last
    assert "layers-tui watch" not in last  # somebody refreshes: no advice to start one
    assert 20 <= fake_clock.monotonic() - started <= 21.5
    assert transport.lists == 0
    assert len(holder.store.take_refresh_requests()) == 6  # asked, once each


async def test_stale_data_without_a_problem_keeps_its_code(make_session, fake_clock):
    await filled(make_session)
    assert make_session().inventory.take_lease()
    fake_clock.advance(11 * 60)
    code, text = await run(make_session(), CheckScope(project="bloom"), Freshness(timeout=3), TIGHT)
    assert code == OK
    assert text.startswith("LAYERS OK - 0 critical, 0 warning, 4 ok, 1 disconnected across 1")
    assert "1 of 1 project(s) stale (oldest data from 11 min ago)" in text.splitlines()[0]


async def test_max_age_decides_what_is_stale(make_session, fake_clock, sandbox_app):
    await filled(make_session)
    assert make_session().inventory.take_lease()
    fake_clock.advance(11 * 60)
    transport = CountingTransport(sandbox_app)
    code, text = await run(make_session(transport=transport), freshness=Freshness(max_age=3600))
    assert code == CRITICAL and "stale" not in text
    assert transport.lists == 0


class HookClock(FakeClock):
    """A fake clock whose sleeps let 'another process' act (the lease holder's loop)."""

    def __init__(self, start) -> None:
        super().__init__(start)
        self.hook = None
        self._busy = False

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if self.hook is not None and not self._busy:
            self._busy = True
            try:
                await self.hook()
            finally:
                self._busy = False


def session_on(app, key, clock, path, transport=None) -> Session:
    settings = Settings(api_key=key, base_url=BASE)
    transport = transport or CountingTransport(app)
    return Session(settings, clock=clock, transport=transport, store_path=path)


async def test_the_holder_refreshes_what_check_asks_for(sandbox_app, api_key, tmp_path):
    clock = HookClock(START)
    path = tmp_path / "shared.sqlite3"
    holder = session_on(sandbox_app, api_key, clock, path)
    assert await run_sync(holder, io.StringIO()) == 0
    assert holder.inventory.take_lease()
    served: list[str] = []

    async def serve() -> None:  # what the holder's loop does with requests in the store
        requested = holder.store.take_refresh_requests()
        if requested:
            served.extend(requested)
            await holder.inventory.refresh(requested)

    clock.advance(11 * 60)
    checker_transport = CountingTransport(sandbox_app)
    checker = session_on(sandbox_app, api_key, clock, path, checker_transport)
    clock.hook = serve
    started = clock.monotonic()
    code, text = await run(checker)
    assert code == CRITICAL and "stale" not in text and DEMO_HEAD in text
    assert len(served) == 6 and clock.monotonic() - started < 20
    assert checker_transport.lists == 0  # the holder did the listing
    for session in (holder, checker):
        await session.aclose()


async def test_check_takes_over_when_the_holder_goes_away(sandbox_app, api_key, tmp_path):
    clock = HookClock(START)
    path = tmp_path / "shared.sqlite3"
    holder = session_on(sandbox_app, api_key, clock, path)
    assert await run_sync(holder, io.StringIO()) == 0
    assert holder.inventory.take_lease()
    clock.advance(11 * 60)

    async def die() -> None:
        holder.inventory.release()

    clock.hook = die
    checker_transport = CountingTransport(sandbox_app)
    checker = session_on(sandbox_app, api_key, clock, path, checker_transport)
    code, text = await run(checker)
    assert code == CRITICAL and "stale" not in text
    assert checker_transport.lists == 1 + 12
    for session in (holder, checker):
        await session.aclose()


async def test_projects_not_reached_in_time_have_no_data_and_are_named(make_session):
    session = make_session()
    code, text = await run(session, freshness=Freshness(timeout=0))
    assert code == UNKNOWN
    lines = text.splitlines()
    assert lines[0].startswith(
        "LAYERS UNKNOWN - 0 critical, 0 warning, 0 ok, 0 disconnected across 6 projects; "
        "6 of 6 project(s) stale (6 with no data yet)"
    )
    assert sum(line.startswith("STALE: project ") for line in lines) == 6
    assert (
        "not reached within the 0 s time limit at the request budget (120 req/min): this "
        "check refreshed 0 of the 6 due; nothing else refreshes this store: keep it fresh "
        "with `layers-tui watch`" in lines[-1]
    )
    code, text = await run(make_session(), freshness=Freshness(timeout=0), as_json=True)
    report = json.loads(text)
    assert report["status"] == "UNKNOWN" and report["summary"]["noDataProjects"] == 6
    assert report["summary"]["dueProjects"] == 6 and report["summary"]["refreshedBy"] is None
    assert report["summary"]["askedProjects"] is None  # refreshed itself (none in 0 s)
    assert [p["refreshedAt"] for p in report["staleProjects"]] == [None] * 6


async def test_a_project_selection_refreshes_only_that_project(
    make_session, fake_clock, sandbox_app
):
    await filled(make_session)
    fake_clock.advance(11 * 60)
    transport = CountingTransport(sandbox_app)
    session = make_session(transport=transport)
    code, text = await run(session, CheckScope(project="bloom"), thresholds=TIGHT)
    assert code == OK and "across 1 projects" in text and "stale" not in text
    assert transport.lists == 1 + 2  # the old project list, then bloom's two lists
    code, text = await run(make_session(), CheckScope(project="nosuch"))
    assert code == UNKNOWN and text.startswith("LAYERS UNKNOWN - no project matches")


# -- at scale: the standard tier --------------------------------------------------------------
class LinkedClock(FakeClock):
    """Our fake clock and the sandbox's move together, so its rate limit sees our pace."""

    def __init__(self, sandbox: SandboxClock) -> None:
        super().__init__(START)
        self.sandbox = sandbox

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self.sandbox.advance(seconds)


class StatusCounting(CountingTransport):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.statuses: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        self.statuses[response.status_code] += 1
        return response


async def test_300_projects_on_the_standard_tier_are_paced_not_rate_limited(tmp_path):
    sandbox_clock = SandboxClock(start=START)
    app = create_app(
        clock=sandbox_clock, projects=300, accounts_per_project=10, tier="standard", rng_seed=1
    )
    clock = LinkedClock(sandbox_clock)
    transport = StatusCounting(app)
    # One request at a time: concurrent sleepers would each advance the fake clock.
    settings = Settings(api_key=app.state.sandbox.demo_key, base_url=BASE, concurrency=1)
    path = tmp_path / "big.sqlite3"
    session = Session(settings, clock=clock, transport=transport, store_path=path)
    started = clock.monotonic()
    code, text = await run(session)
    elapsed = clock.monotonic() - started
    head = text.splitlines()[0]
    assert transport.statuses[429] == 0 and "RATE_LIMITED" not in text
    assert "failed to load" not in head and "failed_projects=0" in head
    assert code in (UNKNOWN, CRITICAL)  # critical accounts in what was read, or stale only
    refreshed = sum(1 for r in session.store.projects() if r.refreshed_at is not None)
    assert 10 <= refreshed < 300
    assert f"{300 - refreshed} of 300 project(s) stale ({300 - refreshed} with no data" in head
    assert elapsed <= 21.5
    # The next check (a minute later, as a monitor would) carries on where this one stopped.
    clock.advance(60)
    await run(session)
    more = sum(1 for r in session.store.projects() if r.refreshed_at is not None)
    assert more > refreshed and transport.statuses[429] == 0
    await session.aclose()


def test_a_max_age_the_budget_cannot_meet_is_widened_and_said(tmp_path):
    from types import SimpleNamespace

    from layers_tui.check import Freshness, within_budget
    from layers_tui.clock import FakeClock
    from layers_tui.flows.budget import RequestBudget

    def engine(projects: int, per_minute: int):
        return SimpleNamespace(
            store=SimpleNamespace(project_count=lambda: projects),
            inventory=SimpleNamespace(budget=RequestBudget(FakeClock(), per_minute)),
        )

    asked = Freshness(max_age=600)
    assert within_budget(engine(300, 120), asked) == asked  # 300 projects fit in 10 min
    widened = within_budget(engine(2000, 120), asked)
    assert widened.asked_max_age == 600
    assert widened.max_age > 2000 * 2 / (0.9 * 120) * 60  # at least one pass at the budget
    assert within_budget(engine(2000, 1200), asked) == asked  # a bigger tier fits
    assert within_budget(engine(2000, 120), Freshness(max_age=0)).max_age == 0

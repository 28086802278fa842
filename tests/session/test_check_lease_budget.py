"""`check` while another process holds the refresh lease (the walk: a dashboard refreshing
2,000 projects on the standard tier): it asks the holder only for as many projects as the
request budget refreshes within --timeout, the most urgent first; it waits for them (and
returns as soon as they are tried) only when that is every due project, else not at all;
it says who refreshes (pid and program) and suggests `watch` only when nobody does;
durations are rounded, maxAgeSeconds is whole seconds."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import timedelta

import pytest

from layers_tui.check import (
    OK,
    CheckScope,
    Engine,
    Freshness,
    _span,
    check_engine,
    most_urgent,
    projects_within,
)
from layers_tui.clock import FakeClock
from layers_tui.domain.status import Thresholds
from layers_tui.flows.budget import RequestBudget
from layers_tui.sandbox import SandboxClock, create_app
from layers_tui.session.store import ProjectRecord
from tests.conftest import START
from tests.monitoring.test_check_nagios import VALIDATOR
from tests.session.test_check_store import HookClock, StatusCounting, session_on


# -- pure parts ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (20, "20 s"),
        (20.7, "21 s"),
        (90, "90 s"),
        (600, "10 min"),
        (2451.1666, "41 min"),  # the walk's widened --max-age (was "40.8528 min")
        (2430, "41 min"),  # half up
        (7200, "2 h"),
        (3 * 86_400, "3 days"),
    ],
)
def test_limits_are_printed_rounded_to_their_unit(seconds, text):
    assert _span(seconds) == text


def test_projects_within_the_budget_at_its_steady_rate():
    budget = RequestBudget(FakeClock(), 120)  # standard: 1.8 req/s, 2 requests a project
    assert projects_within(budget, 20) == 18
    assert projects_within(budget, 19.9) == 17
    assert projects_within(budget, 1) == 0
    assert projects_within(budget, -3) == 0
    assert projects_within(budget, None) is None
    assert projects_within(RequestBudget(FakeClock(), 1200), 20) == 180


def test_most_urgent_first_no_data_then_the_oldest():
    def record(ident: str, refreshed_at: float | None) -> ProjectRecord:
        return ProjectRecord(ident, {"id": ident}, refreshed_at, refreshed_at, None, [], 0)

    records = [record("a", 300.0), record("b", None), record("c", 100.0), record("d", 200.0)]
    assert most_urgent(records, ["a", "b", "c", "d"]) == ["b", "c", "d", "a"]
    assert most_urgent(records, ["a", "d"]) == ["d", "a"]


# -- the walk: 2,000 projects, a holder busy refreshing, the standard tier -------------------
class LinkedHookClock(HookClock):
    """A hook clock the sandbox's clock follows, so its rate limit sees our pace."""

    def __init__(self, sandbox: SandboxClock) -> None:
        super().__init__(START)
        self.sandbox = sandbox

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self.sandbox.advance(seconds)


@pytest.fixture
def walk(tmp_path):
    """2,000 projects in the sandbox at the standard tier, and the session that will hold
    the refresh lease over the shared store."""
    sandbox_clock = SandboxClock(start=START)
    app = create_app(
        clock=sandbox_clock, projects=2000, accounts_per_project=1, tier="standard", rng_seed=1
    )
    clock = LinkedHookClock(sandbox_clock)
    path = tmp_path / "shared.sqlite3"
    key = app.state.sandbox.demo_key
    holder = session_on(app, key, clock, path)
    return app, key, clock, path, holder


async def fill(holder, clock, fresh: int = 35) -> list[str]:
    """The holder lists the projects and has data 50 minutes old for all but the first
    `fresh` (refreshed a minute ago): the walk had 1965 stale."""
    projects = await holder.inventory.list_projects()
    ids = [project.id for project in projects]
    old = clock.now() - timedelta(minutes=50)
    for ident in ids[fresh:]:
        holder.store.save_project(ident, [], [], old)
    for ident in ids[:fresh]:
        holder.store.save_project(ident, [], [], clock.now() - timedelta(minutes=1))
    assert holder.inventory.take_lease()
    return ids


async def report(session, freshness=None, as_json=True, program="layers-tui"):
    engine = replace(Engine.of_session(session), program_of=lambda pid: program)
    result = await check_engine(
        engine, session.clock.now, Thresholds(), CheckScope(), freshness or Freshness(), as_json
    )
    return result.code, result.render(as_json)


def serving(holder, served: list[str]):
    async def serve() -> None:  # the holder's loop serves what the store asks for
        asked = holder.store.take_refresh_requests()
        if asked:
            served.extend(asked)
            await holder.inventory.refresh(asked)

    return serve


async def test_more_due_than_the_budget_fits_asks_the_most_urgent_and_does_not_wait(walk):
    app, key, clock, path, holder = walk
    ids = await fill(holder, clock)
    served: list[str] = []
    checker_transport = StatusCounting(app)
    checker = session_on(app, key, clock, path, checker_transport)
    clock.hook = serving(holder, served)
    started = clock.monotonic()
    code, text = await report(checker)
    assert clock.monotonic() - started < 1  # was the whole 20 s, for nothing
    data = json.loads(text)
    VALIDATOR.validate(data)
    summary = data["summary"]
    assert summary["dueProjects"] == 1965 and summary["staleProjects"] == 1965
    # the budget's steady rate, 1.8 req/s, refreshes 18 projects in 20 s
    assert summary["askedProjects"] == 18 and summary["refreshedProjects"] == 0
    assert summary["refreshedBy"] == f"pid {os.getpid()} (layers-tui)"
    assert summary["maxAgeSeconds"] == 2451 and isinstance(summary["maxAgeSeconds"], int)
    assert code == OK  # the stale rule: stale data showing no problem keeps the code
    asked = holder.store.take_refresh_requests()
    assert asked == ids[35:53]  # the oldest (all equally old: listing order)
    assert checker_transport.lists == 0 and served == []

    # The holder serves them; the next check (a minute later) finds them fresh.
    await holder.inventory.refresh(asked)
    clock.advance(60)
    code, text = await report(checker)
    summary = json.loads(text)["summary"]
    assert summary["staleProjects"] == 1965 - 18 and summary["dueProjects"] == 1965 - 18
    assert holder.store.take_refresh_requests() == ids[53:71]
    await checker.aclose()
    await holder.aclose()


async def test_what_fits_the_budget_is_waited_for_and_check_returns_when_done(walk):
    app, key, clock, path, holder = walk
    ids = await fill(holder, clock, fresh=2000 - 12)
    served: list[str] = []
    checker_transport = StatusCounting(app)
    checker = session_on(app, key, clock, path, checker_transport)
    clock.hook = serving(holder, served)
    started = clock.monotonic()
    code, text = await report(checker)
    elapsed = clock.monotonic() - started
    summary = json.loads(text)["summary"]
    assert sorted(served) == sorted(ids[-12:])
    assert 1 <= elapsed < 10  # the holder's bucket held 9 projects, 3 more at 0.9 a second
    assert summary["askedProjects"] == summary["dueProjects"] == 12
    assert summary["refreshedProjects"] == 12 and summary["staleProjects"] == 0
    assert checker_transport.lists == 0 and checker_transport.statuses[429] == 0
    await checker.aclose()
    await holder.aclose()


async def test_the_text_says_who_refreshes_and_what_the_budget_allowed(walk):
    app, key, clock, path, holder = walk
    await fill(holder, clock)
    checker = session_on(app, key, clock, path)
    code, text = await report(checker, as_json=False, program="layers-tui watch")
    assert code == OK
    assert text.splitlines()[-1] == (
        "STALE: 1965 project(s) not refreshed in the last 41 min (--max-age 10 min is "
        "shorter than the 41 min the request budget needs for every project, so that is what "
        f"counts as fresh): pid {os.getpid()} (layers-tui watch) holds the refresh lease and "
        "refreshes every project in its own passes; the request budget (120 req/min) allows "
        "18 of the 1965 due within the 20 s time limit, so this check asked it for the 18 "
        "most urgent and did not wait (it refreshes at that budget whether check waits or "
        "not); raise --max-age, or --timeout to wait until every due project fits"
    )
    assert "layers-tui watch`" not in text  # no advice to start one: somebody refreshes
    await checker.aclose()
    await holder.aclose()


async def test_a_time_limit_the_budget_fits_no_project_in_returns_at_once(walk):
    app, key, clock, path, holder = walk
    await fill(holder, clock, fresh=2000 - 5)
    checker = session_on(app, key, clock, path)
    started = clock.monotonic()
    code, text = await report(checker, Freshness(timeout=1), as_json=False)
    assert clock.monotonic() - started < 0.5  # no wait: nothing could come of it
    assert holder.store.take_refresh_requests() == []  # and nothing asked
    assert code == OK
    assert (
        "the request budget (120 req/min) allows none of the 5 due within the 1 s time "
        "limit, so this check asked it for none and did not wait" in text.splitlines()[-1]
    )
    await checker.aclose()
    await holder.aclose()

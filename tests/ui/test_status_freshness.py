"""The status line says how old the data on screen is by its oldest part (a long refresh
pass made it say "last refresh 0 s ago" over rows minutes old), after the scope and before
the pass's progress; the sort comes last."""

from __future__ import annotations

from dataclasses import replace

from textual.geometry import Region

from layers_tui.domain.status import Summary
from layers_tui.session.inventory import Progress
from layers_tui.ui.widgets.status_line import StatusLine, StatusState, data_age_text
from tests.scenes import START, build, highlight_project, loaded

STATE = StatusState(
    organization="Demo Agency",
    profile=None,
    key_env="test",
    read_only=False,
    demo=True,
    summary=Summary(),
    projects=300,
    updated_seconds=0.0,
    refreshing=True,
    error=None,
    pending=0,
    plan_reason="",
    filter_text="tiktok",
    problems_only=True,
    sort="status",
    sort_reverse=False,
    progress=Progress(running=True, done=120, total=300, eta_seconds=240),
    project="Customer 0007",
    data_ages=(14 * 60.0, 2.0),
)


def test_data_age_says_the_oldest_and_whether_the_ages_differ():
    assert data_age_text(30, 2) == "data < 1 min old"
    assert data_age_text(12 * 60 + 5, 12 * 60) == "data 12 min old"
    assert data_age_text(12 * 60, 3) == "data up to 12 min old"
    assert data_age_text(3 * 86_400, 3600) == "data up to 3 days old"


async def test_a_long_pass_shows_the_oldest_data_age_after_the_scope_and_before_progress():
    harness = build()
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        line = harness.app.screen.query_one(StatusLine)
        line.show(STATE)
        await pilot.pause()
        text = line.render_lines(Region(0, 1, 120, 1))[0].text.strip()
        assert text.startswith(
            "project: Customer 0007 · problems only · filter: tiktok · "
            "data up to 14 min old · refreshing 120 of 300"
        ), text
        assert "last refresh" not in text and "0 s ago" not in text
        line.show(replace(STATE, refreshing=False, data_ages=(40.0, 40.0), plan_reason="slow"))
        await pilot.pause()
        text = line.render_lines(Region(0, 1, 120, 1))[0].text
        assert "tiktok · data < 1 min old · slow · sort status↓" in text


async def test_without_ages_the_line_says_when_the_last_refresh_ended():
    harness = build()
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        line = harness.app.screen.query_one(StatusLine)
        line.show(replace(STATE, refreshing=False, data_ages=None, updated_seconds=125.0))
        await pilot.pause()
        text = line.render_lines(Region(0, 1, 120, 1))[0].text
        assert text.rstrip().endswith("tiktok · last refresh 2 min ago · sort status↓")


async def test_shown_data_ages_are_the_oldest_and_newest_of_the_projects_the_table_shows():
    harness = build()
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        clock = harness.clock
        assert screen.shown_data_ages(clock.now()) == (0.0, 0.0)
        clock.advance(14 * 60)
        fitness = next(p for p in screen.board.projects if p.name == "Northwind Fitness")
        harness.app.refresh_pass([fitness.id])  # what a long pass has done so far
        await loaded(pilot)
        now = clock.now()
        assert screen.shown_data_ages(now) == (14 * 60.0, 0.0)
        await highlight_project(pilot, "Northwind Fitness")
        assert screen.shown_data_ages(now) == (0.0, 0.0)
        await highlight_project(pilot, "Bloom & Wild")
        assert screen.shown_data_ages(now) == (14 * 60.0, 14 * 60.0)


async def test_a_failed_refresh_keeps_the_age_of_the_data_it_kept():
    harness = build()
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        harness.clock.advance(5 * 60)
        harness.transport.offline = True
        harness.app.refresh_pass(force=True)
        await loaded(pilot)
        assert screen.board.failed_projects
        now = harness.clock.now()
        kept = (now - START).total_seconds()  # the first load's data, not the failure's time
        assert kept >= 5 * 60
        assert screen.shown_data_ages(now) == (kept, kept)


async def test_the_dashboard_status_line_says_the_oldest_age_of_what_it_shows():
    harness = build()
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        harness.clock.advance(14 * 60)
        fitness = next(p for p in screen.board.projects if p.name == "Northwind Fitness")
        harness.app.refresh_pass([fitness.id])
        await loaded(pilot)
        screen.render_status()
        await pilot.pause()
        text = str(screen.query_one(StatusLine).render())
        assert "data up to 14 min old" in text and "last refresh" not in text


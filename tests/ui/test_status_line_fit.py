"""The status line fits 120 columns in its common states: a long pass of a large
organisation at the standard tier ended "…limited by the request budget (120 req/min) ·
last" at 120 columns. The session's reasons are said in fewer words, the sort (the table's
header shows it too) comes last, and a part that does not fit is left out whole."""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.geometry import Region

from layers_tui.api import ApiError
from layers_tui.domain.status import Summary
from layers_tui.session.inventory import Progress
from layers_tui.ui.widgets.status_line import StatusLine, StatusState, fit_parts, short_reason
from tests.scenes import build, loaded

PASS = StatusState(
    organization="Demo Agency",
    profile=None,
    key_env="test",
    read_only=False,
    demo=False,
    summary=Summary(critical=412, warning=980, ok=36_000, off=1200),
    projects=2000,
    updated_seconds=None,
    refreshing=True,
    error=None,
    pending=0,
    plan_reason="refresh every 42 min to stay within 120 req/min",
    filter_text="",
    problems_only=False,
    sort="status",
    sort_reverse=False,
    progress=Progress(
        running=True,
        done=1200,
        total=2000,
        eta_seconds=14 * 60,
        note="limited by the request budget (120 req/min)",
    ),
    data_ages=(41 * 60.0, 2.0),
)


async def test_the_sessions_reasons_in_fewer_words():
    harness = build()
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        inventory = harness.app.session.inventory
        # The session's own words, as a long pass at the standard tier says them.
        progress = inventory._estimate(0, 2000, 0, inventory.clock.monotonic())
        assert short_reason(progress.note) == "budget-limited 120/min"
        plan = inventory.budget.refresh_plan(2000, 60)
        assert plan.stretched
        assert short_reason(plan.reason).startswith("refresh every ")
        assert short_reason(plan.reason).endswith(" min (budget 120/min)")
    assert short_reason("pending flows use the whole request budget") == (
        "flows use the whole budget"
    )
    assert short_reason("something new") == "something new"  # unknown: as it is


def test_parts_that_do_not_fit_are_left_out_whole():
    parts = [
        (Text("project: Customer 0007"),),
        (Text("refreshing 1 of 2, ~1 min left"), Text("refreshing 1 of 2")),
        (Text("sort status↓"),),
    ]
    full = "project: Customer 0007 · refreshing 1 of 2, ~1 min left · sort status↓"
    assert fit_parts(parts, 80).plain == full
    assert fit_parts(parts, 60).plain == "project: Customer 0007 · refreshing 1 of 2, ~1 min left"
    assert fit_parts(parts, 50).plain == "project: Customer 0007 · refreshing 1 of 2"
    assert fit_parts(parts, 40).plain == "project: Customer 0007 · sort status↓"
    assert fit_parts(parts, 10).plain == "project: Customer 0007"  # the first always shows
    assert fit_parts(parts, 0).plain == full  # not laid out: all of them, in full


async def shown(size: tuple[int, int], state: StatusState) -> tuple[str, str]:
    harness = build()
    async with harness.app.run_test(size=size) as pilot:
        await loaded(pilot)
        line = harness.app.screen.query_one(StatusLine)
        line.show(state)
        await pilot.pause()
        rows = [line.render_lines(Region(0, y, size[0], 1))[0].text.rstrip() for y in (0, 1)]
        return rows[0], rows[1]


async def test_a_long_pass_fits_120_columns_most_telling_first():
    first, second = await shown((120, 40), PASS)
    assert first.strip() == "TEST  Demo Agency · 2000 projects · ✖ 412 ▲ 980 ● 36000 ○ 1200"
    assert second.strip() == (
        "data up to 41 min old · refreshing 1200 of 2000, ~14 min left · "
        "budget-limited 120/min · sort status↓"
    )  # the plan's reason left out: the budget's limit says it


async def test_a_follower_says_who_refreshes_and_what_it_can_know_of_the_pass():
    follower = replace(
        PASS, refreshing=False, progress=Progress(), refreshed_by="layers-tui pid 9191"
    )
    _, second = await shown((120, 40), follower)
    assert second.strip() == (
        "data up to 41 min old · refreshed by layers-tui pid 9191 · "
        "refresh every 42 min (budget 120/min) · sort status↓"
    )
    # The holder's pass, once the session passes it on (the store does not record it yet).
    _, second = await shown((120, 40), replace(PASS, refreshed_by="layers-tui pid 9191"))
    assert second.strip() == (
        "data up to 41 min old · refreshed by layers-tui pid 9191 · "
        "refreshing 1200 of 2000, ~14 min left · sort status↓"
    )


async def test_a_scoped_pass_leaves_out_the_least_telling_parts_whole():
    scoped = replace(PASS, project="Customer 1991", problems_only=True, filter_text="tiktok")
    _, second = await shown((120, 40), scoped)
    assert second.strip() == (
        "project: Customer 1991 · problems only · filter: tiktok · data up to 41 min old · "
        "refreshing 1200 of 2000"
    )  # never "budget-limited" without the pass it slows
    _, second = await shown((80, 24), PASS)
    assert second.strip() == (
        "data up to 41 min old · refreshing 1200 of 2000, ~14 min left · sort status↓"
    )


async def test_an_error_and_the_scope_are_never_left_out():
    long_filter = "platform:tiktok status:reauth " * 2
    failing = replace(
        PASS,
        project="Customer 1991",
        filter_text=long_filter.strip(),
        error=ApiError(500, "INTERNAL", "Injected failure " * 4, "req_1"),
        failed_projects=3,
    )
    _, second = await shown((120, 40), failing)
    assert second.strip().startswith(
        "project: Customer 1991 · filter: platform:tiktok status:reauth platform:… · "
        "⚠ 3 projects failed to refresh"
    ), second

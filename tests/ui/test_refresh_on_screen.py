"""The project on screen comes first: ctrl+r refreshes it now (and always says what it did),
and a project that stays selected with data older than a refresh interval is refreshed out
of turn (a pass over a large organisation reaches it minutes later)."""

from __future__ import annotations

from layers_tui.ui.screens import dashboard_actions
from tests.scenes import build, highlight_project, loaded, notes, settle

SIZE = (120, 40)


def fetched(screen, name: str):
    snapshots = screen.board.snapshots.values()
    return next(s.fetched_at for s in snapshots if s.project.name.startswith(name))


async def test_ctrl_r_on_a_selected_project_refreshes_it_now_and_says_so():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        await highlight_project(pilot, "Bloom & Wild")
        await loaded(pilot)
        harness.clock.advance(30)  # fresh: a pass would leave it alone
        await pilot.press("ctrl+r")
        assert any("Refreshing Bloom & Wild Florists now." in note for note in notes(harness.app))
        await settle(pilot)
        assert fetched(screen, "Bloom & Wild") == harness.clock.now()
        assert fetched(screen, "Northwind Fitness") < harness.clock.now()  # only that one


async def test_ctrl_r_during_a_pass_says_a_pass_is_running_instead_of_nothing():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        inventory = harness.app.session.inventory
        inventory._pass_running = True  # a long pass under way (minutes at 2,000 projects)
        started = []
        harness.app.refresh_pass = lambda *args, **kwargs: started.append((args, kwargs))
        await pilot.press("ctrl+r")
        assert any("A refresh pass is already running" in n for n in notes(harness.app))
        assert started == []


async def select_and_wait(pilot, screen, name: str) -> None:
    """Select `name` and let the moment pass (the timer's own wait is real time: run the
    handler it calls)."""
    await highlight_project(pilot, name)
    assert screen._focus_timer is not None
    screen._focus_timer.stop()
    screen.refresh_focused()
    await settle(pilot)


async def test_a_selected_project_with_old_data_is_refreshed_out_of_turn():
    assert dashboard_actions.FOCUS_REFRESH_DELAY <= 1.0  # short: moving on spends nothing
    harness = build(refresh_interval=60)
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        harness.clock.advance(45)
        await select_and_wait(pilot, screen, "Bloom & Wild")  # younger than an interval: left
        before = fetched(screen, "Bloom & Wild")
        assert before < harness.clock.now()
        harness.clock.advance(30)  # now 75 s old
        await select_and_wait(pilot, screen, "Northwind Fitness")
        assert fetched(screen, "Northwind Fitness") == harness.clock.now()
        assert fetched(screen, "Bloom & Wild") == before

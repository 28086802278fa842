"""Issue 14: `R` lists the accounts it will reauth, lets the user drop some, and mints
nothing until confirmed."""

from __future__ import annotations

from layers_tui.ui.screens.confirm import BulkReauthDialog
from layers_tui.ui.screens.dashboard import DashboardScreen
from layers_tui.ui.screens.flow import FlowScreen
from tests.scenes import build, loaded, screen_text, settle

SIZE = (120, 40)


def mints(harness) -> list:
    return [r for r in harness.transport.requests if r.method == "POST"]


async def open_list(pilot) -> BulkReauthDialog:
    await loaded(pilot)
    await pilot.press("R")
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, BulkReauthDialog)
    return dialog


async def test_R_lists_the_accounts_and_mints_nothing_before_enter():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        dialog = await open_list(pilot)
        names = [row.name for row in dialog.rows]
        assert len(names) == 3 and all(row.status == "reauth_required" for row in dialog.rows)
        text = screen_text(harness.app)
        for name in names:
            assert name in text
        assert "3 of 3 accounts will get a reconnect link" in text
        assert mints(harness) == []
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(harness.app.screen, DashboardScreen)
        assert mints(harness) == []


async def test_space_drops_an_account_and_enter_reauths_the_rest_in_order():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        dialog = await open_list(pilot)
        names = [row.name for row in dialog.rows]
        await pilot.press("j", "space")  # drop the second
        await pilot.pause()
        assert "2 of 3 accounts" in screen_text(harness.app)
        await pilot.press("space", "space")  # back and dropped again: toggles
        await pilot.pause()
        await pilot.press("enter")
        await settle(pilot)
        screen = harness.app.screen
        assert isinstance(screen, FlowScreen)
        assert [request.account_label for request in screen.requests] == [names[0], names[2]]
        assert len(mints(harness)) == 1  # the first link only; the next after this one


async def test_unchecking_everything_and_enter_sends_nothing():
    harness = build()
    async with harness.app.run_test(size=SIZE, notifications=True) as pilot:
        dialog = await open_list(pilot)
        for _ in dialog.rows:
            await pilot.press("space", "j")
        await pilot.press("enter")
        await settle(pilot)
        assert harness.app.screen is dialog and mints(harness) == []
        assert "No account is checked" in str(list(harness.app._notifications)[-1].message)
        await pilot.press("q")
        await settle(pilot)
        assert isinstance(harness.app.screen, DashboardScreen)

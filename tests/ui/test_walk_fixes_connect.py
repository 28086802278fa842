"""Walk fix: the connect picker answers to the keys every list has (j k g G ctrl+d ctrl+u)."""

from __future__ import annotations

from textual.widgets import OptionList

from layers_tui.domain.status import AD_PLATFORMS, SOCIAL_PLATFORMS
from layers_tui.ui.screens.connect import ConnectDialog
from layers_tui.ui.screens.flow import FlowScreen
from tests.scenes import build, loaded, select_account, settle


async def test_connect_picker_moves_with_vi_keys_and_enter_connects_the_one_reached():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acmecoffee")
        await pilot.press("c")
        await loaded(pilot)
        dialog = harness.app.screen
        assert isinstance(dialog, ConnectDialog)
        platforms = dialog.query_one("#platforms", OptionList)
        last = len(SOCIAL_PLATFORMS) + len(AD_PLATFORMS) - 1
        assert platforms.highlighted == 0
        await pilot.press("j", "j", "k")
        assert platforms.highlighted == 1
        await pilot.press("G")
        assert platforms.highlighted == last
        await pilot.press("g")
        assert platforms.highlighted == 0
        await pilot.press("ctrl+d")
        assert platforms.highlighted == max(1, platforms.scrollable_content_region.height // 2)
        await pilot.press("ctrl+u")
        assert platforms.highlighted == 0
        await pilot.press("j", "enter")
        await settle(pilot)
        screen = harness.app.screen
        assert isinstance(screen, FlowScreen)
        assert screen.request.platform == SOCIAL_PLATFORMS[1]

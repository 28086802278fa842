"""Wide terminals and NO_COLOR: Textual's line filters (the stale table's opacity, NO_COLOR's
monochrome) crash on a segment without a style, and our line-drawing widgets leave such
segments only where a line is wider than what they draw, so only at wide sizes."""

from __future__ import annotations

import pytest
from textual.filter import Monochrome, NoColor

from layers_tui.ui.screens.flow import FlowScreen
from layers_tui.ui.screens.pending import PendingScreen
from layers_tui.ui.widgets.accounts_table import TOTAL_WIDTH, AccountsTable
from layers_tui.ui.widgets.qr_panel import QrPanel
from tests.scenes import SCENES, build, flow_pending, key_rejected, pending_panel, stale

WIDE = [(200, 50), (250, 60)]


def unstyled_segments(widget) -> list[tuple[int, str]]:
    """(line, text) of every segment the widget draws without a style."""
    found = []
    for y in range(widget.size.height):
        for segment in widget.render_line(y):
            if segment.style is None and not segment.control:
                found.append((y, segment.text))
    return found


@pytest.mark.parametrize("size", WIDE)
@pytest.mark.parametrize("scene", [stale, key_rejected], ids=["unreachable", "key_rejected"])
async def test_stale_dashboard_survives_wide_terminals(size, scene):
    harness = build()
    async with harness.app.run_test(size=size) as pilot:
        await scene(pilot, harness)
        table = harness.app.screen.query_one(AccountsTable)
        assert table.has_class("-stale")
        assert table.size.width > TOTAL_WIDTH  # the line is wider than the columns drawn
        assert unstyled_segments(table) == []
        await pilot.press("down", "down")  # repaints under the filter: still alive
        await pilot.pause()
    assert harness.app.return_code is None or harness.app.return_code == 0
    assert harness.app._exception is None


async def test_key_rejected_is_named_not_called_unreachable():
    harness = build()
    async with harness.app.run_test(size=(200, 50)) as pilot:
        await key_rejected(pilot, harness)
        assert harness.app.screen.last_error.code == "UNAUTHENTICATED"


@pytest.mark.parametrize("size", WIDE)
async def test_no_color_dashboard_survives_wide_terminals(size):
    harness = build(no_color=True)  # NO_COLOR=1 in the environment while the app is built
    assert any(isinstance(f, Monochrome | NoColor) for f in harness.app._filters)
    async with harness.app.run_test(size=size) as pilot:
        await stale(pilot, harness)  # loaded first, then stale: both states under the filter
        assert unstyled_segments(harness.app.screen.query_one(AccountsTable)) == []
    assert harness.app._exception is None


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "no_color"])
async def test_flow_screen_and_pending_panel_at_200x50(no_color):
    harness = build(no_color=no_color)
    async with harness.app.run_test(size=(200, 50)) as pilot:
        await flow_pending(pilot, harness)
        assert isinstance(harness.app.screen, FlowScreen)
        assert unstyled_segments(harness.app.screen.query_one(QrPanel)) == []
    assert harness.app._exception is None
    harness = build(no_color=no_color)
    async with harness.app.run_test(size=(200, 50)) as pilot:
        await pending_panel(pilot, harness)
        assert isinstance(harness.app.screen, PendingScreen)
    assert harness.app._exception is None


def test_wide_scenes_are_in_the_snapshot_set():
    wide = {name for name, spec in SCENES.items() if spec.size == (200, 50)}
    assert {
        "stale_offline_200x50",
        "key_rejected_200x50",
        "dashboard_no_color_200x50",
        "flow_pending_200x50",
        "pending_panel_200x50",
    } <= wide

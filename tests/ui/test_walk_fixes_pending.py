"""Walk fix: at 80x24 the pending panel's Last result and Next poll columns are reached with
h/l (a column at a time, the project column kept in place)."""

from __future__ import annotations

from tests.scenes import build, pending_panel, screen_text


def header(app) -> str:
    return next(
        line for line in screen_text(app).splitlines() if line.lstrip().startswith("Project")
    )


def row_of(app, project: str) -> str:
    return next(line for line in screen_text(app).splitlines() if project in line)


async def test_h_and_l_scroll_the_flows_table_a_column_at_a_time_at_80_columns():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pending_panel(pilot, harness)
        first = header(harness.app)
        assert "Account" in first and "Last result" not in first
        assert "h/l: 6 more columns" in screen_text(harness.app)
        await pilot.press("l")
        assert "Account" not in header(harness.app)  # one column went by
        await pilot.press("l", "l")
        moved = header(harness.app)
        assert "Next poll" in moved and "Last result" in moved
        assert row_of(harness.app, "Pixel Pals Games").split()[3:6] == ["4", "s", "waiting"]
        await pilot.press("h", "h", "h")
        assert header(harness.app) == first
        await pilot.press("right")  # the arrows scroll the same way
        assert "Account" not in header(harness.app)


async def test_a_wide_terminal_shows_every_column_and_says_nothing_of_h_l():
    harness = build()
    async with harness.app.run_test(size=(200, 40)) as pilot:
        await pending_panel(pilot, harness)
        text = screen_text(harness.app)
        for label in ("Last result", "Next poll", "Polls", "Kind", "Age"):
            assert label in header(harness.app)
        assert "more columns" not in text
        before = header(harness.app)
        await pilot.press("l")
        assert header(harness.app) == before

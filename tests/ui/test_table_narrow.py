"""The accounts table at 80 columns: the account column has room for a typical handle (the
status says it in fewer words), every column scrolled to still fits whole, 120 columns are
as before, and a sort column off screen is scrolled into view."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from layers_tui.domain.filtering import SORT_KEYS
from layers_tui.ui.widgets.accounts_table import (
    NAME_WANTED,
    AccountsTable,
    lay_out,
    narrow_status,
)
from tests.scenes import build, loaded, screen_text

NARROW, MEDIUM = (80, 24), (120, 40)
SANDBOX_HANDLE = "customer299_instagram_12"  # `layers-tui sandbox --projects 300`
FULL_STATUS, NARROW_STATUS = 18, 12  # "▲ expires <7 days" and "● connected", with gutters


def table_of(app) -> AccountsTable:
    return app.screen.query_one(AccountsTable)


def widths(layout) -> dict[str, int]:
    return {column.key: width for column, width in layout}


def test_narrow_status_words_are_at_most_nine_cells():
    assert narrow_status("reauth required") == "reauth"
    assert narrow_status("expires < 24 h") == "exp <24 h"
    assert narrow_status("expires < 7 days") == "exp <7 d"
    assert narrow_status("disconnected") == "disconn."
    assert narrow_status("token expired") == "expired"
    labels = ["connected", "leased", "token valid", "token revoked", "token invalid"]
    assert max(cell_len(narrow_status(label)) for label in labels) <= 9


@pytest.mark.parametrize(
    ("width", "narrow"),
    [(56, True), (79, True), (90, False), (170, False)],
    ids=["80 cols", "80 cols, no project list", "120 cols", "200 cols"],
)
def test_the_account_column_fits_a_sandbox_handle_where_the_status_words_shrink(width, narrow):
    layout = lay_out(width, FULL_STATUS, NARROW_STATUS)
    assert layout[0][0].narrow is narrow
    if narrow:
        assert widths(layout)["name"] >= NAME_WANTED > cell_len(SANDBOX_HANDLE)
        assert widths(layout)["expiry"] == 19  # "expired 3 days ago" stays whole


def test_120_columns_lay_out_as_before_and_without_narrow_widths_nothing_changes():
    assert widths(lay_out(90, FULL_STATUS, NARROW_STATUS)) == widths(lay_out(90, FULL_STATUS))
    assert widths(lay_out(56, FULL_STATUS))["name"] == 19  # the old cut: 17 cells and "…"


async def test_at_80x24_typical_names_show_whole_and_so_does_the_expiry():
    harness = build()
    async with harness.app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        assert table.visible_columns == ["status", "name", "expiry"]
        assert widths(table.columns)["name"] >= NAME_WANTED
        text = screen_text(harness.app)
        for name in ("Acme Coffee - TikTok Ads", "Pixel Pals - Search Ads", "harbor_kids_dental"):
            assert name in text  # cut to "Acme Coffee - Tik…" before
        assert "expired 3 days ago" in text
        assert "✖ exp <24 h " in text and "▲ exp <7 d " in text and "✖ reauth " in text
        await pilot.press("G")  # the disconnected rows come last
        assert "○ disconn. " in screen_text(harness.app)


async def test_at_80x24_every_column_scrolled_to_fits_whole():
    harness = build()
    async with harness.app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        seen = set(table.visible_columns)
        for _ in range(10):
            await pilot.press("l")
            seen |= set(table.visible_columns)
        assert seen == set(SORT_KEYS) | {"since"}  # none too wide for the room left over
        await pilot.press("h", "h", "h", "h", "h", "h", "h", "h")
        assert table.scroll_x == 0


async def test_at_120x40_the_status_says_it_in_full():
    harness = build()
    async with harness.app.run_test(size=MEDIUM) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        assert not table.narrow
        assert table.visible_columns == ["status", "name", "expiry", "project", "platform"]
        assert "▲ expires <7 days " in screen_text(harness.app)


@pytest.mark.parametrize("size", [NARROW, MEDIUM], ids=["80x24", "120x40"])
async def test_s_scrolls_the_sort_column_into_view_both_ways(size):
    harness = build()
    async with harness.app.run_test(size=size) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        screen = harness.app.screen
        offsets = []
        for _ in range(2 * len(SORT_KEYS)):
            await pilot.press("s")
            assert screen.sort_column in table.visible_columns, screen.sort_column
            assert "↓" in table.render_line(0).text  # its arrow is on screen
            offsets.append(table.scroll_x)
        if size == NARROW:
            assert max(offsets) > 0  # it went right for the later columns...
            assert offsets[SORT_KEYS.index("expiry") + len(SORT_KEYS) - 1] == 0  # ...and back


async def test_s_leaves_the_scroll_alone_when_the_sort_column_is_on_screen():
    harness = build()
    async with harness.app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        await pilot.press("l")
        scrolled = table.scroll_x
        assert "project" in table.visible_columns
        await pilot.press("s", "s")  # expiry (off screen to the left), then name (frozen)
        assert table.scroll_x == 0
        await pilot.press("l")
        await pilot.press("s")  # project: on screen already
        assert harness.app.screen.sort_column == "project"
        assert table.scroll_x == scrolled

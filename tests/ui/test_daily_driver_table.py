"""The dashboard as a daily driver at 80x24, 120x40 and 200x50: which columns show, sideways
scroll by column, the project list hidden and shown, vi keys in every list, tab between the
two panes, the cursor kept on its account, filter messages, "N of M rows" and the sort."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Input

from layers_tui.domain.filtering import filter_rows, parse_filter
from layers_tui.domain.status import AccountRow, Severity
from layers_tui.ui.board import Board
from layers_tui.ui.screens.dashboard import DashboardScreen
from layers_tui.ui.screens.dashboard_panes import SeenSince
from layers_tui.ui.widgets.accounts_table import (
    AccountsTable,
    lay_out,
    short_status,
    status_width,
)
from layers_tui.ui.widgets.project_list import ProjectList
from tests.scenes import build, loaded, screen_text

NARROW, MEDIUM, WIDE = (80, 24), (120, 40), (200, 50)
EVERY_COLUMN = [
    "status",
    "name",
    "expiry",
    "project",
    "platform",
    "since",
    "checked",
    "connected",
    "leased",
]


def table_of(app) -> AccountsTable:
    return app.screen.query_one(AccountsTable)


def projects_of(app) -> ProjectList:
    return app.screen.query_one(ProjectList)


def header(app) -> str:
    return table_of(app).render_line(0).text


def selected_name(app) -> str:
    table = table_of(app)
    return table.rows[table.cursor_row].name


# -- columns by width ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("size", "columns"),
    [
        (NARROW, ["status", "name", "expiry"]),
        (MEDIUM, ["status", "name", "expiry", "project", "platform"]),
        (WIDE, EVERY_COLUMN),
    ],
    ids=["80x24", "120x40", "200x50"],
)
async def test_what_is_broken_and_when_is_on_screen_at_every_size(size, columns):
    harness = build()
    async with harness.app.run_test(size=size) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        assert table.visible_columns == columns
        text = screen_text(harness.app)
        assert "expired 3 days ago" in text  # the expiry column is never cut
        assert "✖ reauth " in text  # status: glyph and short word
        # As wide as its widest word and its gutter, no wider: at 80 columns the short words
        # ("▲ exp <7 d") leave "● connected" the widest, so handles get the room.
        widest = "● connected" if size == NARROW else "▲ expires <7 days"
        assert table.columns[0][1] == len(widest) + 1


async def test_at_120_columns_the_project_counts_are_never_cut():
    harness = build()
    async with harness.app.run_test(size=MEDIUM) as pilot:
        await loaded(pilot)
        width = projects_of(harness.app).outer_size.width
        lines = [line[:width] for line in screen_text(harness.app).splitlines()]
        board = harness.app.screen.board
        for project in board.projects:
            summary = board.summary(project.id)
            if summary is None or not summary.critical:
                continue
            counts = f"✖{summary.critical}" + (f" ▲{summary.warning}" if summary.warning else "")
            line = next(line for line in lines if project.name[:8] in line)
            # Packed ("✖2▲1") when the space between would cut the name.
            assert counts in line or counts.replace(" ", "") in line, line


def test_columns_grow_only_when_every_column_before_them_fits():
    narrow = dict((column.key, width) for column, width in lay_out(56, 16))
    assert narrow["status"] + narrow["name"] + narrow["expiry"] == 56  # the spare went to name
    assert narrow["project"] == 20  # not on screen: not grown
    wide = dict((column.key, width) for column, width in lay_out(170, 16))
    assert wide["name"] == 32 and wide["project"] == 28


def test_the_status_column_says_it_short_and_is_as_wide_as_its_widest_word():
    assert short_status("expires < 24 h") == "expires <24 h"
    assert short_status("token expired") == "expired"
    assert short_status("reauth required") == "reauth"
    rows = [_row("tiktok", status="reauth_required"), _row("tiktok", status="connected")]
    assert status_width(rows) == len("● connected") + 1
    assert status_width(rows[:1]) == len("Status ↓") + 1  # never narrower than its title


# -- sideways scroll and the project list ----------------------------------------------------------
async def test_left_right_and_h_l_scroll_a_column_at_a_time():
    harness = build()
    async with harness.app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        await pilot.press("l")
        assert table.scroll_x == 19  # the width of Token expiry: Project starts
        assert table.visible_columns == ["status", "name", "project"]
        assert "Northwind Fitness" in screen_text(harness.app)
        await pilot.press("right")
        assert table.visible_columns[:3] == ["status", "name", "platform"]
        await pilot.press("h")
        assert table.visible_columns == ["status", "name", "project"]
        await pilot.press("left", "left")
        assert table.scroll_x == 0
        assert table.visible_columns == ["status", "name", "expiry"]
        for _ in range(20):  # never past the last column
            await pilot.press("l")
        assert table.visible_columns[-1] == "leased"
        assert table.scroll_x == table.virtual_size.width - table.scrollable_content_region.width


async def test_b_hides_and_shows_the_project_list():
    harness = build()
    async with harness.app.run_test(size=MEDIUM) as pilot:
        await loaded(pilot)
        table, projects = table_of(harness.app), projects_of(harness.app)
        await pilot.press("tab")
        assert projects.has_focus
        await pilot.press("b")
        await pilot.pause()
        assert not projects.display
        assert table.has_focus  # the hidden list gives the keys back to the table
        assert table.visible_columns == EVERY_COLUMN[:7]  # since and checked now fit
        await pilot.press("tab")
        assert table.has_focus  # nothing else to go to
        await pilot.press("b")
        await pilot.pause()
        assert projects.display
        assert table.visible_columns == EVERY_COLUMN[:5]


# -- keys in every list --------------------------------------------------------------------------
async def test_tab_goes_between_the_project_list_and_the_table_never_the_filter():
    harness = build()
    async with harness.app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        table, projects = table_of(harness.app), projects_of(harness.app)
        field = harness.app.screen.query_one("#filter", Input)
        assert table.has_focus
        for expected in (projects, table, projects, table):
            await pilot.press("tab")
            assert expected.has_focus and not field.has_focus
        await pilot.press("shift+tab")
        assert projects.has_focus
        await pilot.press("j")  # moves in the list; types nothing into the filter
        assert field.value == "" and projects.highlighted == 1
        await pilot.press("slash")
        assert field.has_focus


async def test_vi_keys_move_the_accounts_table_cursor():
    harness = build()
    async with harness.app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        rows = len(table.rows)
        half = (table.size.height - 1) // 2
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == rows - 1
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("ctrl+d")
        assert table.cursor_row == half
        await pilot.press("ctrl+d", "ctrl+u")
        assert table.cursor_row == half
        await pilot.press("ctrl+u", "ctrl+u")
        assert table.cursor_row == 0


async def test_vi_keys_move_in_the_project_list():
    harness = build()
    async with harness.app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        projects = projects_of(harness.app)
        await pilot.press("tab")
        await pilot.press("j", "j", "k")
        assert projects.highlighted == 1
        await pilot.press("G")
        assert projects.highlighted == projects.option_count - 1
        await pilot.press("g")
        assert projects.highlighted == 0
        await pilot.press("ctrl+d")
        assert projects.highlighted == min(
            projects.option_count - 1, projects.scrollable_content_region.height // 2
        )
        await pilot.press("ctrl+u")
        assert projects.highlighted == 0
        # The table follows the project picked with the keys.
        await pilot.press("j")
        await pilot.pause()
        assert {row.project_id for row in harness.app.screen.visible_rows} == {
            projects.selected_project
        }


# -- the cursor stays on its account --------------------------------------------------------------
async def test_a_refresh_that_reorders_rows_keeps_the_cursor_on_its_account():
    harness = build()
    async with harness.app.run_test(size=MEDIUM) as pilot:
        await loaded(pilot)
        while selected_name(harness.app) != "acmecoffee":
            await pilot.press("j")
        table = table_of(harness.app)
        key, position = table.selected_key, table.cursor_row
        below = table.rows[position + 1]  # healthy now; expiring it moves it above us
        assert below.severity is Severity.OK
        async with harness.control() as control:
            await control.post(f"/sandbox/social-accounts/{below.key}/expire-token")
        await pilot.press("ctrl+r")
        await loaded(pilot)
        assert table.rows.index(next(r for r in table.rows if r.key == below.key)) < position
        assert table.selected_key == key  # the same account, one row further down
        assert table.cursor_row == position + 1
        assert "acmecoffee" in harness.app.screen.query_one("#problem").visual.plain


# -- filter ----------------------------------------------------------------------------------------
async def test_an_unknown_field_names_the_fields_that_exist():
    harness = build()
    async with harness.app.run_test(size=MEDIUM) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"foo:bar")
        await pilot.pause()
        problem = harness.app.screen.query_one("#problem").visual.plain
        assert "unknown field 'foo'" in problem
        assert "(fields: status, platform, project, kind, name, handle, id)" in problem
        assert len(harness.app.screen.visible_rows) == 24  # the term is ignored
        assert "Press /" not in problem  # already in the filter
        await pilot.press("enter")  # out of the filter: now / is how to fix it
        await pilot.pause()
        assert "Press / to fix it" in harness.app.screen.query_one("#problem").visual.plain


async def test_an_unclosed_regex_says_so_and_filters_nothing_out_yet():
    harness = build()
    async with harness.app.run_test(size=MEDIUM) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"/[unclosed")
        await pilot.pause()
        problem = harness.app.screen.query_one("#problem").visual.plain
        assert "/[unclosed is not a /regex/ yet: end it with /" in problem
        assert len(harness.app.screen.visible_rows) == 24  # not "0 of 24" with no word why


async def test_n_of_m_rows_shows_while_a_filter_or_problems_only_is_active():
    harness = build()
    async with harness.app.run_test(size=NARROW) as pilot:
        await loaded(pilot)
        counter = harness.app.screen.query_one("#row-count")
        assert not counter.display
        await pilot.press("exclamation_mark")
        shown = len(harness.app.screen.visible_rows)
        assert counter.display and counter.visual.plain == f"{shown} of 24 rows"
        assert "11 of 24 rows" in screen_text(harness.app)
        await pilot.press("exclamation_mark", "slash", *'project:"Bloom & Wild"', "enter")
        await pilot.pause()
        bloom = [r for r in harness.app.screen.visible_rows if "Bloom & Wild" in r.project_name]
        assert len(bloom) == len(harness.app.screen.visible_rows) == 5
        assert counter.visual.plain == "5 of 24 rows"
        await pilot.press("escape")
        await pilot.pause()
        assert not counter.display


def _row(platform: str, name: str = "x", status: str = "connected") -> AccountRow:
    return AccountRow(
        f"k_{platform}_{name}_{status}",
        "social" if platform in ("tiktok", "instagram") else "ad",
        "prj_1",
        "Bloom & Wild UK",
        platform,
        name,
        status,
        status.replace("_", " "),
        Severity.OK,
        False,
        None,
        None,
        "",
    )


def test_platform_matches_exactly_and_a_star_asks_for_a_prefix():
    rows = [_row("tiktok"), _row("tiktok_ads"), _row("instagram")]
    assert [r.platform for r in filter_rows(rows, parse_filter("platform:tiktok"))] == ["tiktok"]
    assert [r.platform for r in filter_rows(rows, parse_filter('platform:"TikTok Ads"'))] == [
        "tiktok_ads"
    ]
    assert [r.platform for r in filter_rows(rows, parse_filter("platform:tiktok*"))] == [
        "tiktok",
        "tiktok_ads",
    ]
    assert [r.platform for r in filter_rows(rows, parse_filter("!platform:tiktok"))] == [
        "tiktok_ads",
        "instagram",
    ]


def test_status_matches_a_whole_word_and_quotes_keep_spaces():
    rows = [_row("tiktok", "a", "connected"), _row("tiktok", "b", "disconnected")]
    rows.append(_row("tiktok", "Bloom & Wild UK", "reauth_required"))
    assert [r.name for r in filter_rows(rows, parse_filter("status:connected"))] == ["a"]
    assert [r.name for r in filter_rows(rows, parse_filter("status:reauth"))] == ["Bloom & Wild UK"]
    assert [r.name for r in filter_rows(rows, parse_filter('name:"bloom & wild uk"'))] == [
        "Bloom & Wild UK"
    ]
    assert parse_filter('name:"Bloom & Wild').error == 'unclosed quote (")'


# -- sort ------------------------------------------------------------------------------------------
async def test_s_cycles_every_sortable_column_and_the_title_carries_the_arrow():
    harness = build()
    async with harness.app.run_test(size=WIDE) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        titles = {column.key: column.label for column, _ in table_of(harness.app).columns}
        assert "Status ↓" in header(harness.app)
        sortable = [column for column, _ in Board.SORTABLE]
        seen = [screen.sort_column]
        for _ in sortable[1:]:
            await pilot.press("s")
            seen.append(screen.sort_column)
            assert f"{titles[screen.sort_column]} ↓" in header(harness.app)
            assert header(harness.app).count("↓") == 1
        assert sorted(seen) == sorted(sortable)  # each sortable column once, Checked and Leased too
        await pilot.press("S")
        assert f"{titles[screen.sort_column]} ↑" in header(harness.app)
        await pilot.press("s")
        assert screen.sort_column == "status"  # round again


# -- since and the journal -------------------------------------------------------------------------
async def test_since_shows_when_a_problem_was_first_seen_and_nothing_for_healthy_rows():
    harness = build()
    async with harness.app.run_test(size=WIDE) as pilot:
        await loaded(pilot)
        table = table_of(harness.app)
        since = {
            row.severity >= Severity.WARNING: table._cells(row)["since"].plain for row in table.rows
        }
        assert since[True] == "12:00"  # first seen at the start of the (fake) clock
        assert since[False] == ""


def test_J_opens_the_journal():
    binding = next(b for b in DashboardScreen.BINDINGS if b.key == "J")
    assert binding.action == "app.journal"


async def test_J_pressed_shows_the_journal_screen():
    harness = build()
    async with harness.app.run_test(size=MEDIUM) as pilot:
        await loaded(pilot)
        await pilot.press("J")
        await pilot.pause()
        assert type(harness.app.screen).__name__ == "JournalScreen"


def test_seen_since_reads_a_project_when_drawn_then_again_only_once_it_changed():
    reads: list[str] = []
    history = {"prj_1": {("social", "k_tiktok_x_connected"): 1.0}}

    def read(project_id: str) -> dict[tuple[str, str], float]:
        reads.append(project_id)
        return history[project_id]

    seen = SeenSince(read)
    broken = replace(_row("tiktok"), severity=Severity.CRITICAL)
    assert seen(_row("tiktok")) is None and reads == []  # healthy: nothing to read
    assert seen(broken) == 1.0 and seen(broken) == 1.0
    assert reads == ["prj_1"]  # its project only, once
    history["prj_1"] = {}
    seen.forget("prj_1")
    assert reads == ["prj_1"]  # not until a row of it is drawn
    assert seen(broken) is None  # its history now says nothing
    assert seen(broken) is None
    assert reads == ["prj_1", "prj_1"]

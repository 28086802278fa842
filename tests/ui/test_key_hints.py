"""One source of key hints: the key bar, Help and the palette all show the screen's active
bindings as `check_action` leaves them; the accounts table's cursor dims when it loses focus."""

from __future__ import annotations

from rich.style import Style
from rich.table import Table
from textual.screen import Screen
from textual.widgets import Static

from layers_tui.ui.keys import KeyHint, hint_line
from layers_tui.ui.screens.help import HelpScreen
from layers_tui.ui.widgets.accounts_table import AccountsTable
from layers_tui.ui.widgets.footer import KeyBar
from tests.scenes import build, loaded, poll, screen_text, settle, start_reauth

SIZE = (120, 40)
DEMO_ACTIONS = {"approve", "deny", "time_travel"}


def active(screen: Screen) -> dict[tuple[str, str], bool]:
    """Straight from Textual: (key as displayed, description) -> enabled, for every active
    binding that has a description (the ones `check_action` refuses are already gone)."""
    app = screen.app
    return {
        (app.get_key_display(found.binding), found.binding.description): found.enabled
        for found in screen.active_bindings.values()
        if found.binding.description
    }


def help_rows(help_screen: HelpScreen) -> dict[tuple[str, str], bool]:
    """What the Help table draws: (key, description) -> enabled, one entry per key of a row
    (a row "esc q" is two keys); headings and notes left out."""
    table = help_screen.query_one("#help-keys", Static).content
    assert isinstance(table, Table)
    keys, texts = (list(column.cells) for column in table.columns)
    rows: dict[tuple[str, str], bool] = {}
    heading = ""
    for key, text in zip(keys, texts, strict=True):
        plain = str(text)
        if not str(key):  # a heading (or the blank line before one)
            heading = plain or heading
            continue
        if heading == "Notes":  # the dashboard's notes on the filter and Checked column
            continue
        enabled = not plain.endswith(" (not now)")
        description = plain.removesuffix(" (not now)")
        for one in str(key).split(" "):
            rows[(one, description)] = enabled
    return rows


def bar_hints(app) -> list[KeyHint]:
    bar = app.screen.query_one(KeyBar)
    palette = app.COMMAND_PALETTE_BINDING
    return [hint for _, _, hint in bar._spans if hint.key != palette]


def push_help(pilot) -> HelpScreen:
    help_screen = HelpScreen(pilot.app.screen)
    pilot.app.push_screen(help_screen)
    return help_screen


async def test_help_on_the_dashboard_lists_exactly_the_active_bindings_and_agrees_with_the_bar():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        dashboard = harness.app.screen
        expected = active(dashboard)
        bar = bar_hints(harness.app)
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = harness.app.screen
        assert isinstance(help_screen, HelpScreen) and help_screen.origin is dashboard
        rows = help_rows(help_screen)
        assert rows == expected
        assert rows[("⏎", "Details")] and rows[("?", "Help")] and rows[("e", "Export")]
        for hint in bar:  # every key on the bar is in Help, the same way
            assert rows[(hint.display, hint.description)] == hint.enabled, hint


async def test_help_on_the_flow_screen_lists_its_keys_and_nothing_that_cannot_apply():
    harness = build(demo=False)
    async with harness.app.run_test(size=SIZE) as pilot:
        flow_screen = await start_reauth(pilot)
        expected = active(flow_screen)
        bar = bar_hints(harness.app)
        await pilot.pause()
        help_screen = push_help(pilot)
        await pilot.pause()
        rows = help_rows(help_screen)
        assert rows == expected
        for key, description in [("y", "Copy link"), ("^x", "Cancel"), ("esc", "Back")]:
            assert rows[(key, description)] is True
        # Outside --demo the sandbox's consent keys don't exist; one account has nothing to skip.
        assert not [row for row in rows if "(demo)" in row[1] or row[1] == "Skip"]
        for hint in bar:
            assert rows[(hint.display, hint.description)] == hint.enabled, hint
        # The flow screen's own key list is the same source: the keys that work now.
        listed = str(flow_screen.query_one("#flow-keys").render())
        for key, description in [("y", "Copy link"), ("o", "Open"), ("esc q", "Back")]:
            assert f"{key} {description}" in listed


async def test_a_finished_flow_dims_its_link_keys_in_help_and_drops_them_from_the_palette():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        flow_screen = await start_reauth(pilot)
        await pilot.press("x")
        await settle(pilot)
        await poll(pilot, harness, 6)
        assert flow_screen.flow is not None and flow_screen.flow.terminal
        titles = {c.title for c in harness.app.get_system_commands(flow_screen)}
        assert "Copy link" not in titles and "New link" in titles
        help_screen = push_help(pilot)
        await pilot.pause()
        rows = help_rows(help_screen)
        assert rows[("y", "Copy link")] is False and rows[("n", "New link")] is True
        assert "Copy link (not now)" in screen_text(harness.app)


async def test_the_palette_offers_demo_commands_only_in_demo():
    for demo in (False, True):
        harness = build(demo=demo)
        async with harness.app.run_test(size=SIZE) as pilot:
            flow_screen = await start_reauth(pilot)
            commands = list(harness.app.get_system_commands(flow_screen))
            titles = {command.title for command in commands}
            demo_titles = {t for t in titles if "(demo)" in t or t.startswith("+10 min")}
            if demo:
                assert demo_titles == {"Approve (demo)", "Deny (demo)", "+10 min (demo)"}
            else:
                assert demo_titles == set()
            assert "Skip" not in titles  # one account: nothing to skip
            assert {"Copy link", "Cancel", "Back"} <= titles
            # The dashboard's commands are not offered on the flow screen, and vice versa.
            assert "Problems" not in titles


async def test_the_key_bar_at_80_columns_keeps_help_and_ends_with_a_cue():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        line = screen_text(harness.app).splitlines()[-1]
        hints, _, palette = line.partition("▏")
        assert hints.startswith(" ? Help ")
        assert hints.rstrip().endswith("…")
        assert palette.strip() == "^p palette"
        shown = {hint.action for hint in bar_hints(harness.app)}
        assert "refresh" not in shown  # left out, and the cue says so
        # A click on the cue opens Help, where the rest are.
        bar = harness.app.screen.query_one(KeyBar)
        cue = hints.rstrip().index("…")
        await pilot.click(KeyBar, offset=(cue, 0))
        await pilot.pause()
        assert isinstance(harness.app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        line = screen_text(harness.app).splitlines()[-1]
        assert "…" not in line and "^r Refresh" in line
        assert bar is harness.app.screen.query_one(KeyBar)


async def test_the_flow_screen_key_bar_at_80_columns_keeps_esc_back():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await start_reauth(pilot)
        await pilot.pause()
        hints = screen_text(harness.app).splitlines()[-1].partition("▏")[0].rstrip()
        assert "esc Back" in hints and hints.endswith("…")


def test_hint_line_keeps_whole_hints_and_ends_with_a_cue_when_they_do_not_fit():
    hints = [
        KeyHint("y", "y", "Copy link", "copy_link", True, True),
        KeyHint("m", "m", "Copy message", "copy_message", True, True),
        KeyHint("escape", "esc", "Back", "back", True, True),
    ]
    assert hint_line(hints, 80, " ok") == " ok · y Copy link · m Copy message · esc Back"
    assert hint_line(hints, 30, " ok") == " ok · y Copy link · …"
    assert hint_line(hints, 10, " ok") == " ok · …"


def cursor_style(table: AccountsTable) -> Style:
    strip = table.render_line(1 + table.cursor_row - table.scroll_offset.y)
    return next(iter(strip)).style or Style()


async def test_the_table_cursor_dims_when_the_table_loses_focus():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        table = harness.app.screen.query_one(AccountsTable)
        assert table.has_focus
        focused = cursor_style(table)
        harness.app.screen.query_one("#projects").focus()
        await pilot.pause()
        blurred = cursor_style(table)
        assert blurred.bgcolor != focused.bgcolor
        table.focus()
        await pilot.pause()
        assert cursor_style(table) == focused


async def test_the_qr_only_line_takes_its_keys_from_the_same_source():
    harness = build()
    async with harness.app.run_test(size=(100, 40)) as pilot:  # the code alone fits: no key bar
        flow_screen = await start_reauth(pilot)
        await pilot.pause()
        assert not flow_screen.query_one(KeyBar).display
        line = screen_text(harness.app).splitlines()[-1].rstrip()
        assert line.startswith(" ⏳ Waiting for the account owner · Expires in 10:00")
        assert line.endswith(" · y Copy link · …")
        await pilot.resize_terminal(160, 40)  # side by side again: the key bar is back
        await pilot.pause()
        assert flow_screen.query_one(KeyBar).display

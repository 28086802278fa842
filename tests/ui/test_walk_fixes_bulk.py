"""Walk fixes: the bulk reauth list's marks read without colour, and the key bar keeps the
keys that work ahead of dimmed ones when the terminal is narrow."""

from __future__ import annotations

from layers_tui.ui.keys import Group, KeyHint
from layers_tui.ui.screens.flow import FlowScreen
from layers_tui.ui.widgets.footer import KeyBar, fitting
from tests.scenes import build, loaded, poll, screen_text, settle


def list_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if " · reauth requi" in line]


async def test_dropped_and_kept_accounts_read_apart_under_no_color():
    harness = build(no_color=True)
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("R")
        await settle(pilot)
        await pilot.press("j", "space")  # drop the second account
        await settle(pilot)
        rows = list_rows(screen_text(harness.app))
        assert len(rows) == 3
        assert "▐X▌" not in "".join(rows)
        marks = [row.split("▊", 1)[1][1:4] for row in rows]
        assert marks == ["[x]", "[ ]", "[x]"]
        text = screen_text(harness.app)
        assert "[x] gets a link, [ ] dropped" in " ".join(text.split())


def bar_text(app) -> str:
    return str(app.screen.query_one(KeyBar).render())


async def test_bulk_flow_at_80_columns_shows_new_link_and_skip_before_dimmed_keys():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("R")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await poll(pilot, harness, 3)
        await pilot.press("x")  # the owner denies: y m o are dimmed, n and s apply
        await settle(pilot)
        await poll(pilot, harness, 8)
        screen = harness.app.screen
        assert isinstance(screen, FlowScreen) and screen.flow.status == "failed"
        bar = bar_text(harness.app)
        assert " n New link " in bar and " s Skip " in bar
        assert " ? Help " in bar and " esc Back " in bar and "…" in bar
        assert bar.index(" n New link ") < bar.index(" s Skip ") < bar.index(" ? Help ")
        if " y Copy link " in bar:  # dimmed: only after every key that works
            assert bar.index(" esc Back ") < bar.index(" y Copy link ")


async def test_wide_bar_keeps_binding_order_with_dimmed_keys_in_place():
    harness = build()
    async with harness.app.run_test(size=(160, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("R")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await poll(pilot, harness, 3)
        await pilot.press("x")
        await settle(pilot)
        await poll(pilot, harness, 8)
        bar = bar_text(harness.app)
        order = ["y Copy link", "m Copy message", "o Open", "n New link", "s Skip", "? Help"]
        positions = [bar.index(f" {words} ") for words in order]
        assert positions == sorted(positions) and "…" not in bar


def hint(action: str, enabled: bool) -> KeyHint:
    return KeyHint(action[0], action[0], action, action, enabled, True, Group.SCREEN)


def test_fitting_prefers_keys_that_work_and_never_a_dimmed_one_over_them():
    hints = [hint("yank", False), hint("mail", False), hint("new", True), hint("skip", True)]
    hints.append(KeyHint("?", "?", "Help", "help", True, True, Group.SCREEN))
    widths = [8, 8, 8, 8, 8]
    assert fitting(hints, widths, 24) == {2, 3, 4}
    assert fitting(hints, widths, 32) == {0, 2, 3, 4}
    assert fitting(hints, widths, 16) == {2, 4}
    assert fitting(hints, widths, 40) == {0, 1, 2, 3, 4}

"""The pending-flows panel updates its table in place and fits 80 columns."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.widgets import DataTable

from layers_tui.flows.engine import new_flow
from layers_tui.flows.model import PendingFlow
from layers_tui.models import AuthorizeLink
from layers_tui.ui.screens.pending import PendingScreen
from layers_tui.ui.widgets.pending_table import fit_columns, status_words
from tests.scenes import build, pending_panel, poll, screen_text

SIZE = (120, 40)


class TableSpy:
    """Records what the panel does to its table: cells rewritten, and any clear()."""

    def __init__(self, table: DataTable) -> None:
        self.table = table
        self.updated: list[tuple[str, str]] = []
        self.cleared = 0
        update_cell, clear = table.update_cell, table.clear

        def spy_update(row_key, column_key, value, **options):
            self.updated.append((str(row_key), str(column_key)))
            return update_cell(row_key, column_key, value, **options)

        def spy_clear(*args, **options):
            self.cleared += 1
            return clear(*args, **options)

        table.update_cell = spy_update
        table.clear = spy_clear
        self.rows = dict(table.rows)  # the Row objects before

    def same_rows(self, except_for: set[str] = frozenset()) -> bool:
        keys = {key.value for key in self.rows} - set(except_for)
        return all(self.table.rows[key] is self.rows[key] for key in keys)


def table_of(app) -> DataTable:
    assert isinstance(app.screen, PendingScreen)
    return app.screen.query_one(DataTable)


def row_keys(table: DataTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


def cell(table: DataTable, key: str, column: str) -> str:
    return str(table.get_cell(key, column))


def cursor_key(table: DataTable) -> str:
    return table.ordered_rows[table.cursor_row].key.value


def minted(harness, name: str) -> PendingFlow:
    link = AuthorizeLink(
        authorize_url="http://localhost:8787/sandbox/consent/st_new",
        state=f"st_{name}",
        expires_at=harness.clock.now() + timedelta(minutes=10),
    )
    return new_flow(
        "connect",
        link,
        project_id="prj_x",
        project_name=name,
        platform="instagram",
        now=harness.clock.now(),
    )


async def test_a_flow_change_rewrites_only_its_row():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await pending_panel(pilot, harness)
        table = table_of(harness.app)
        engine = harness.app.engine
        waiting = engine.pending()[0]
        assert cell(table, waiting.id, "status") == "⏳ pending"
        last = row_keys(table)[-1]
        table.move_cursor(row=table.row_count - 1)
        await pilot.pause()
        spy = TableSpy(table)

        engine.cancel(waiting.id)
        await pilot.pause()

        assert spy.cleared == 0
        assert spy.updated and {row for row, _ in spy.updated} == {waiting.id}
        assert set(row_keys(table)) == {key.value for key in spy.rows}
        assert spy.same_rows()
        assert cell(table, waiting.id, "status") == "■ cancelled"
        assert cursor_key(table) == last  # the rows re-sorted; the cursor kept its flow
        text = screen_text(harness.app)
        assert "■ cancelled" in text and "cancelled (cancelled)" not in text


async def test_a_poll_updates_the_waiting_row_and_leaves_the_others_alone():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await pending_panel(pilot, harness)
        table = table_of(harness.app)
        waiting = harness.app.engine.pending()[0]
        before = {column: cell(table, waiting.id, column) for column in ("left", "next")}
        spy = TableSpy(table)

        await poll(pilot, harness, 6)
        harness.app.screen.render_flows()  # the once-a-second tick, for the moved clock

        assert harness.app.engine.flows[waiting.id].attempts > 0
        assert spy.cleared == 0 and spy.same_rows()
        assert {row for row, _ in spy.updated} == {waiting.id}
        after = {column: cell(table, waiting.id, column) for column in ("left", "next")}
        assert after["left"] != before["left"]


async def test_poll_bookkeeping_waits_for_the_tick_a_new_outcome_does_not():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await pending_panel(pilot, harness)
        screen = harness.app.screen
        screen.ticker.pause()  # the tick is driven by hand below
        table = table_of(harness.app)
        engine = harness.app.engine
        waiting = engine.pending()[0]
        spy = TableSpy(table)

        polled = waiting.evolve(
            harness.clock.now(), attempts=waiting.attempts + 1, last_result="still waiting"
        )
        engine._set(polled)  # what a poll that found nothing new reports
        await pilot.pause()
        assert spy.updated == []  # not redrawn per poll
        screen.render_flows()
        assert set(spy.updated) == {(waiting.id, "last"), (waiting.id, "attempts")}
        assert cell(table, waiting.id, "last") == "still waiting"

        engine.cancel(waiting.id)
        await pilot.pause()
        assert cell(table, waiting.id, "status") == "■ cancelled"  # at once


async def test_a_new_flow_adds_a_row_and_a_vanished_one_removes_its_row():
    harness = build()
    async with harness.app.run_test(size=SIZE) as pilot:
        await pending_panel(pilot, harness)
        table = table_of(harness.app)
        engine = harness.app.engine
        finished = [key for key in row_keys(table) if engine.flows[key].terminal]
        table.move_cursor(row=row_keys(table).index(finished[-1]))
        await pilot.pause()
        spy = TableSpy(table)

        added = engine.add(minted(harness, "Zeta Studio"))
        await pilot.pause()

        assert spy.cleared == 0 and spy.same_rows()
        assert table.row_count == len(spy.rows) + 1
        assert cell(table, added.id, "project") == "Zeta Studio"
        assert row_keys(table).index(added.id) < row_keys(table).index(finished[0])
        assert cursor_key(table) == finished[-1]

        del engine.flows[finished[0]]  # pruned after 24 h
        harness.app.screen.render_flows()
        await pilot.pause()

        assert finished[0] not in row_keys(table)
        assert spy.cleared == 0 and spy.same_rows(except_for={finished[0]})
        assert cursor_key(table) == finished[-1]


async def test_at_80_columns_status_and_left_show_in_full_and_widen_with_the_terminal():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pending_panel(pilot, harness)
        engine = harness.app.engine
        waiting = engine.pending()[0]
        engine.cancel(waiting.id)
        await pilot.pause()
        lines = screen_text(harness.app).splitlines()
        header = next(line for line in lines if line.lstrip().startswith("Project"))
        assert "Left" in header and "Status" in header
        rows = "\n".join(lines)
        for words in ("✔ completed", "✖ failed (platform_denied)", "■ cancelled"):
            assert words in rows
        assert "(cancelled)" not in rows
        table = table_of(harness.app)
        selected = cursor_key(table)

        await pilot.resize_terminal(120, 30)
        await pilot.pause()
        header = next(
            line
            for line in screen_text(harness.app).splitlines()
            if line.lstrip().startswith("Project")
        )
        assert "Last result" in header and "Next poll" in header
        assert cursor_key(table_of(harness.app)) == selected


@pytest.mark.parametrize("width", [78, 98, 118, 198])
def test_fit_columns_keeps_status_and_left_within_the_width(width):
    layout = fit_columns(width)
    keys = [column.key for column, _ in layout]
    assert {"project", "status", "left"} <= set(keys)
    assert sum(column_width + 2 for _, column_width in layout) <= width
    status_width = dict((column.key, w) for column, w in layout)["status"]
    assert status_width >= len("✖ failed (platform_denied)")


def test_fit_columns_drops_the_least_important_first():
    narrow = {column.key for column, _ in fit_columns(78)}
    wide = {column.key for column, _ in fit_columns(198)}
    assert "age" not in narrow and "kind" not in narrow
    assert len(wide) == 10 and narrow < wide


def test_status_words_show_a_code_only_when_it_adds_something(fake_clock):
    clock = fake_clock
    flow = new_flow(
        "connect",
        AuthorizeLink(authorize_url="http://x", state="s", expires_at=None),
        project_id="p",
        project_name="P",
        platform="tiktok",
        now=clock.now(),
    )
    assert status_words(flow) == "pending"
    assert status_words(flow.evolve(clock.now(), status="cancelled", code="cancelled")) == (
        "cancelled"
    )
    assert status_words(flow.evolve(clock.now(), status="expired", code="state_expired")) == (
        "expired"
    )
    assert status_words(flow.evolve(clock.now(), status="failed", code="platform_denied")) == (
        "failed (platform_denied)"
    )


async def test_vi_keys_move_in_the_flows_table():
    harness = build()
    async with harness.app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        for index in range(30):
            harness.app.engine.add(minted(harness, f"Studio {index:02d}"))
        harness.app.screen.render_flows()
        await pilot.pause()
        table = table_of(harness.app)
        assert table.row_count == 30
        half = table.scrollable_content_region.height // 2
        await pilot.press("j", "j", "k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 29
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("ctrl+d")
        assert table.cursor_row == half
        await pilot.press("ctrl+u", "ctrl+u")
        assert table.cursor_row == 0

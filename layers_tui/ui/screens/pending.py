"""`p`: every pending (and recently finished) flow, live.

The table is updated in place: a changed flow rewrites only the cells of its own row that
changed, a new flow adds a row, a vanished one removes its row, and the cursor stays on the
same flow. With hundreds of flows polled every 5 s, rebuilding the table on each change cost
~14 ms a change; now a new outcome shows at once and poll bookkeeping once a second. Which
columns fit on screen depends on the terminal width (most important first), so Status and
Left are never cut off at 80 columns; the others follow, most important first, and h/l (or
the arrows) scroll sideways a column at a time with the project column kept in place.
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Static

from layers_tui.flows.model import PendingFlow

from ..messages import FlowChanged
from ..widgets.footer import KeyBar
from ..widgets.palette import Palette, palette_for
from ..widgets.pending_table import (
    SCROLLBAR,
    Cell,
    PendingColumn,
    PendingTable,
    RowCell,
    cell_text,
    clock_cells,
    fit_columns,
    flow_cells,
    order_key,
    table_columns,
)
from .base import ReportsWorkerErrors

# Poll bookkeeping is drawn on this tick, not per poll: any cell update makes DataTable redraw
# every visible cell (its caches are keyed by one update counter), 50-90 ms at 120x40.
TICK_SECONDS = 1.0


class PendingScreen(ReportsWorkerErrors, Screen):
    BINDINGS = [
        Binding("enter", "open_flow", "Open"),
        Binding("ctrl+x", "cancel_flow", "Cancel flow"),
        Binding("escape,q", "app.pop_screen", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._layout: tuple[tuple[PendingColumn, int], ...] = ()
        self._shown: dict[str, dict[str, Cell]] = {}  # per row: what its cells show now
        self._seen: dict[str, PendingFlow] = {}  # per row: the flow version it was drawn from
        self._fixed: dict[str, dict[str, Cell]] = {}  # per row: flow_cells of that version
        self._order: dict[str, tuple[bool, datetime, str]] = {}  # per row: its sort key
        self._title: tuple[int, int, bool, int] | None = None
        self._off_screen = 0  # columns to the right of the screen, reached with h/l
        self._palette: Palette | None = None
        self.ticker: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="pending-title")
        yield PendingTable(id="pending-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="pending-empty")
        yield KeyBar()

    def on_mount(self) -> None:
        self._lay_out(self.app.size.width)
        self.ticker = self.set_interval(TICK_SECONDS, self.render_flows)
        self.query_one(DataTable).focus()

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out(event.size.width)

    def on_screen_resume(self) -> None:
        self._lay_out(self.app.size.width)  # the terminal may have changed under a dialog

    def _lay_out(self, width: int) -> None:
        """Pick the columns for `width`; only when the choice changes is the table rebuilt
        (a resize, never a refresh), with the cursor kept on its flow."""
        layout = table_columns(width - SCROLLBAR)
        self._off_screen = len(layout) - len(fit_columns(width - SCROLLBAR))
        if layout == self._layout:
            return
        table = self.query_one(DataTable)
        table.fixed_columns = 1 if self._off_screen else 0  # Project stays while h/l scroll
        selected = self._selected_key()
        self._layout = layout
        table.clear(columns=True)
        self._forget_all()
        for column, column_width in layout:
            table.add_column(column.label, width=column_width, key=column.key)
        self.render_flows()
        self._restore_cursor(selected)

    # -- keeping the table in step ----------------------------------------------------------------
    def render_flows(self) -> None:
        """Bring every row up to date: once a second (countdowns, poll bookkeeping, the
        theme's colours), so the table is redrawn once a second however many flows poll."""
        if not self._layout:
            return
        palette = palette_for(self.app)
        if palette != self._palette:
            self._palette = palette
            self._seen.clear()  # every row's colours are recomputed
        now = self.app.clock.now()
        flows = self.app.engine.flows
        table = self.query_one(DataTable)
        selected = self._selected_key()
        reorder = False
        with self.app.batch_update():
            for gone in [key for key in self._shown if key not in flows]:
                self._remove(table, gone)
            for flow in flows.values():
                reorder |= self._show(table, flow, now)
            if reorder:
                self._sort(table)
            self._restore_cursor(selected)
        self._show_title()

    def on_flow_changed(self, message: FlowChanged) -> None:
        """A new flow, a new outcome or a vanished flow shows at once; a poll that changed
        only bookkeeping (polls, next poll, last result) waits for the once-a-second tick."""
        if not self._layout:
            return
        flow_id = message.flow.id
        flow = self.app.engine.flows.get(flow_id)
        seen = self._seen.get(flow_id)
        if flow is not None and seen is not None and seen.status == flow.status:
            return
        table = self.query_one(DataTable)
        selected = self._selected_key()
        with self.app.batch_update():
            if flow is None:
                if flow_id in self._shown:
                    self._remove(table, flow_id)
            elif self._show(table, flow, self.app.clock.now()):
                self._sort(table)
            self._restore_cursor(selected)
        self._show_title()

    def _show(self, table: DataTable, flow: PendingFlow, now: datetime) -> bool:
        """Add the flow's row or rewrite the cells of it that changed. True when the rows
        may now be out of order."""
        if self._seen.get(flow.id) is not flow:
            self._palette = self._palette or palette_for(self.app)
            self._fixed[flow.id] = flow_cells(flow, self._palette)
            self._seen[flow.id] = flow
        cells = self._fixed[flow.id] | clock_cells(flow, now)
        shown = self._shown.get(flow.id)
        if shown is None:
            table.add_row(
                *(
                    RowCell(*cells[column.key], flow.id)
                    if column.key == "project"
                    else cell_text(cells[column.key])
                    for column, _ in self._layout
                ),
                key=flow.id,
            )
        elif shown != cells:
            for column, _ in self._layout:
                key = column.key
                if shown[key] != cells[key]:
                    value = (
                        RowCell(*cells[key], flow.id) if key == "project" else cell_text(cells[key])
                    )
                    table.update_cell(flow.id, key, value)
        self._shown[flow.id] = cells
        order = order_key(flow)
        moved = self._order.get(flow.id) != order
        self._order[flow.id] = order
        return moved

    def _remove(self, table: DataTable, flow_id: str) -> None:
        table.remove_row(flow_id)
        for memo in (self._shown, self._seen, self._fixed, self._order):
            memo.pop(flow_id, None)

    def _forget_all(self) -> None:
        for memo in (self._shown, self._seen, self._fixed, self._order):
            memo.clear()

    def _sort(self, table: DataTable) -> None:
        order = self._order
        table.sort("project", key=lambda cell: order[cell.row_key])

    def _selected_key(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count or not 0 <= table.cursor_row < table.row_count:
            return None
        return table.ordered_rows[table.cursor_row].key.value

    def _restore_cursor(self, selected: str | None) -> None:
        table = self.query_one(DataTable)
        if selected is None or selected not in self._shown:
            return
        index = table.get_row_index(selected)
        if index != table.cursor_row:
            table.move_cursor(row=index, scroll=False)

    def _show_title(self) -> None:
        engine = self.app.engine
        pending = engine.pending_count
        finished = len(engine.flows) - pending
        halted = engine.halted is not None
        if self._title == (pending, finished, halted, self._off_screen):
            return
        self._title = (pending, finished, halted, self._off_screen)
        title = Text(
            f"Pending flows: {pending} waiting, {finished} finished (kept 24 h)", style="bold"
        )
        if self._off_screen:
            title.append(f"  h/l: {self._off_screen} more columns", style="dim")
        if halted:
            title.append(
                "  polling stopped: KILL_SWITCH",
                style=(self._palette or palette_for(self.app)).critical,
            )
        self.query_one("#pending-title", Static).update(title)
        empty = self.query_one("#pending-empty", Static)
        empty.update(
            ""
            if engine.flows
            else "No flows yet. On the dashboard, c connects an account and r reconnects one."
        )
        empty.display = not engine.flows

    # -- actions ----------------------------------------------------------------------------------
    def _selected(self) -> PendingFlow | None:
        key = self._selected_key()
        return None if key is None else self.app.engine.flows.get(key)

    @on(DataTable.RowSelected)
    def action_open_flow(self) -> None:
        flow = self._selected()
        if flow is not None:
            self.app.show_flow(flow)

    def action_cancel_flow(self) -> None:
        flow = self._selected()
        if flow is not None:
            self.app.engine.cancel(flow.id)

"""`p`: every pending (and recently finished) flow, live."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from layers_tui.domain.status import PLATFORM_LABELS, age
from layers_tui.flows.describe import flow_status
from layers_tui.flows.model import PendingFlow
from layers_tui.text import safe

from ..messages import FlowChanged
from ..widgets.footer import KeyBar
from ..widgets.palette import palette_for
from .base import ReportsWorkerErrors

COLUMNS = (
    ("project", "Project"),
    ("platform", "Platform"),
    ("kind", "Kind"),
    ("account", "Account"),
    ("age", "Age"),
    ("left", "Left"),
    ("status", "Status"),
    ("last", "Last result"),
    ("next", "Next poll"),
    ("attempts", "Polls"),
)


class PendingScreen(ReportsWorkerErrors, Screen):
    BINDINGS = [
        Binding("enter", "open_flow", "Open"),
        Binding("ctrl+x", "cancel_flow", "Cancel flow"),
        Binding("escape,q", "app.pop_screen", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="pending-title")
        yield DataTable(id="pending-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="pending-empty")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self.set_interval(1.0, self.render_flows)
        self.render_flows()
        table.focus()

    def _flows(self) -> list[PendingFlow]:
        flows = list(self.app.engine.flows.values())
        return sorted(flows, key=lambda f: (f.terminal, f.expires_at))

    def render_flows(self) -> None:
        now = self.app.clock.now()
        palette = palette_for(self.app)
        flows = self._flows()
        pending = sum(1 for f in flows if not f.terminal)
        title = Text(
            f"Pending flows: {pending} waiting, {len(flows) - pending} finished (kept 24 h)",
            style="bold",
        )
        if self.app.engine.halted is not None:
            title.append("  polling stopped: KILL_SWITCH", style=palette.critical)
        self.query_one("#pending-title", Static).update(title)
        table = self.query_one(DataTable)
        selected = None
        if table.row_count and 0 <= table.cursor_row < table.row_count:
            selected = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        table.clear()
        for flow in flows:
            glyph, _, _ = flow_status(flow, now)
            words = flow.status + (f" ({flow.code})" if flow.code and flow.terminal else "")
            left = max(0, int((flow.expires_at - now).total_seconds()))
            nxt = (
                "—"
                if flow.next_poll_at is None or flow.terminal
                else f"{max(0, int((flow.next_poll_at - now).total_seconds()))} s"
            )
            style = {"completed": palette.ok, "pending": palette.accent}.get(
                flow.status, palette.critical
            )
            table.add_row(
                Text(safe(flow.project_name, 28)),
                Text(PLATFORM_LABELS.get(flow.platform, flow.platform)),
                Text(flow.kind),
                Text(safe(flow.account_label or flow.result_label or "new", 24)),
                Text(age(flow.created_at, now)),
                Text("—" if flow.terminal else f"{left // 60}:{left % 60:02d}"),
                Text(f"{glyph} {words}", style=style),
                Text(safe(flow.last_result, 30)),
                Text(nxt),
                Text(str(flow.attempts)),
                key=flow.id,
            )
        if selected is not None:
            ids = [flow.id for flow in flows]
            if selected in ids:
                table.move_cursor(row=ids.index(selected), scroll=False)
        empty = self.query_one("#pending-empty", Static)
        empty.update(
            "No flows yet. On the dashboard, c connects an account and r reconnects one."
            if not flows
            else ""
        )
        empty.display = not flows

    def _selected(self) -> PendingFlow | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        return self.app.engine.flows.get(key)

    @on(DataTable.RowSelected)
    def action_open_flow(self) -> None:
        flow = self._selected()
        if flow is not None:
            self.app.show_flow(flow)

    def action_cancel_flow(self) -> None:
        flow = self._selected()
        if flow is not None:
            self.app.engine.cancel(flow.id)

    def on_flow_changed(self, message: FlowChanged) -> None:
        self.render_flows()

"""The pending panel's table: which columns fit a width (most important first), the cells of
a flow's row, and a DataTable whose project column stays put while h/l scroll the others a
whole column at a time (used by `screens.pending`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.binding import Binding

from layers_tui.domain.status import PLATFORM_LABELS, age
from layers_tui.flows.describe import flow_status
from layers_tui.flows.model import PendingFlow
from layers_tui.text import safe

from .list_keys import ListTable
from .palette import Palette

CELL_PADDING = 2  # DataTable pads each cell by one on either side
SCROLLBAR = 2  # kept free for the vertical scrollbar, so a growing list never re-lays out


@dataclass(frozen=True)
class PendingColumn:
    key: str
    label: str
    width: int  # content width it gets when it fits
    priority: int  # 0 always shows; a column shows only if every lower number does too
    grow: int = 0  # extra width it may take when the terminal leaves some over (GROW_ORDER)


COLUMNS = (
    PendingColumn("project", "Project", 18, 0, grow=10),
    PendingColumn("platform", "Platform", 10, 4),
    PendingColumn("kind", "Kind", 7, 6),
    PendingColumn("account", "Account", 14, 1, grow=10),
    PendingColumn("age", "Age", 10, 7),
    PendingColumn("left", "Left", 5, 0),
    PendingColumn("status", "Status", 26, 0, grow=2),
    PendingColumn("last", "Last result", 22, 3, grow=10),
    PendingColumn("next", "Next poll", 9, 2),
    PendingColumn("attempts", "Polls", 5, 5),
)

GROW_ORDER = ("status", "project", "account", "last")

# A code that only repeats the status ("cancelled (cancelled)") is not shown beside it.
IMPLIED_CODES = {"expired": "state_expired"}

Cell = tuple[str, str]  # text, style


def fit_columns(width: int) -> tuple[tuple[PendingColumn, int], ...]:
    """The columns to show in `width` cells, in display order, each with its width: the most
    important ones (lowest priority number) first, spare room to the ones that can grow."""
    shown: list[PendingColumn] = []
    used = 0
    for column in sorted(COLUMNS, key=lambda c: c.priority):
        cost = column.width + CELL_PADDING
        if column.priority > 0 and used + cost > width:
            break
        shown.append(column)
        used += cost
    spare = max(0, width - used)
    widths = {column.key: column.width for column in shown}
    for column in sorted(shown, key=lambda c: GROW_ORDER.index(c.key) if c.grow else 99):
        extra = min(column.grow, spare)
        widths[column.key] += extra
        spare -= extra
    return tuple((column, widths[column.key]) for column in COLUMNS if column.key in widths)


def table_columns(width: int) -> tuple[tuple[PendingColumn, int], ...]:
    """Every column: `fit_columns(width)` on screen, then the ones that did not fit, most
    important first at their own width, reached by scrolling sideways (h/l)."""
    fitted = fit_columns(width)
    shown = {column.key for column, _ in fitted}
    rest = sorted((c for c in COLUMNS if c.key not in shown), key=lambda c: c.priority)
    return fitted + tuple((column, column.width) for column in rest)


def status_words(flow: PendingFlow) -> str:
    """The status, with the failure code only when it says more than the status does."""
    code = flow.code
    if flow.terminal and code and code != flow.status and code != IMPLIED_CODES.get(flow.status):
        return f"{flow.status} ({code})"
    return flow.status


def flow_cells(flow: PendingFlow, palette: Palette) -> dict[str, Cell]:
    """The cells that depend on the flow alone (computed once per version of the flow)."""
    style = {"completed": palette.ok, "pending": palette.accent}.get(flow.status, palette.critical)
    glyph = flow_status(flow, flow.updated_at)[0]
    return {
        "project": (safe(flow.project_name, 28), ""),
        "platform": (PLATFORM_LABELS.get(flow.platform) or safe(flow.platform, 12), ""),
        "kind": (flow.kind, ""),
        "account": (safe(flow.account_label or flow.result_label or "new", 24), ""),
        "status": (f"{glyph} {status_words(flow)}", style),
        "last": (safe(flow.last_result, 40), ""),
        "attempts": (str(flow.attempts), ""),
    }


def clock_cells(flow: PendingFlow, now: datetime) -> dict[str, Cell]:
    """The cells that move with the clock."""
    if flow.terminal:
        left = upcoming = "—"
    else:
        seconds = max(0, int((flow.expires_at - now).total_seconds()))
        left = f"{seconds // 60}:{seconds % 60:02d}"
        upcoming = (
            "—"
            if flow.next_poll_at is None
            else f"{max(0, int((flow.next_poll_at - now).total_seconds()))} s"
        )
    return {"age": (age(flow.created_at, now), ""), "left": (left, ""), "next": (upcoming, "")}


def order_key(flow: PendingFlow) -> tuple[bool, datetime, str]:
    """Waiting flows first, soonest to expire on top; finished ones below."""
    return (flow.terminal, flow.expires_at, flow.id)


class RowCell(Text):
    """A cell that knows its row: `DataTable.sort` hands its key function cells, not keys."""

    def __init__(self, text: str, style: str, row_key: str) -> None:
        super().__init__(text, style=style, no_wrap=True, overflow="ellipsis", end="")
        self.row_key = row_key


def cell_text(cell: Cell) -> Text:
    text, style = cell
    return Text(text, style=style, no_wrap=True, overflow="ellipsis", end="")


class PendingTable(ListTable):
    """The flows table: the project column stays put while the others scroll sideways, a
    whole column per h/l (the arrows too), as in the accounts table."""

    BINDINGS = [
        Binding("left,h", "column_left", "Column left", show=False),
        Binding("right,l", "column_right", "Column right", show=False),
    ]

    def _column_stops(self) -> list[int]:
        """The `scroll_x` at which each scrolling column starts at the left edge."""
        stops, x = [], 0
        for column in self.ordered_columns[self.fixed_columns :]:
            stops.append(x)
            x += column.get_render_width(self)
        return stops

    def action_column_right(self) -> None:
        ahead = [stop for stop in self._column_stops() if stop > self.scroll_x]
        if ahead and self.scroll_x < self.max_scroll_x:
            self.scroll_to(x=min(ahead[0], self.max_scroll_x), animate=False, immediate=True)

    def action_column_left(self) -> None:
        behind = [stop for stop in self._column_stops() if stop < self.scroll_x]
        self.scroll_to(x=behind[-1] if behind else 0, animate=False, immediate=True)

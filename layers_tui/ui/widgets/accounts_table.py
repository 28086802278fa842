"""The accounts table: a virtual table on Textual's line API.

Only the rows on screen are ever turned into cells, so filtering or refreshing 10,000
accounts costs what 40 visible rows cost. Rows are keyed by account id: a refresh that
changes nothing changes nothing on screen, and the cursor stays on the same account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from operator import attrgetter, is_

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from layers_tui.domain.status import (
    SEVERITY_GLYPH,
    AccountRow,
    Severity,
    age,
    relative_time,
)
from layers_tui.domain.timeline import when
from layers_tui.text import safe

from .list_keys import half_page, list_bindings
from .palette import Palette


@dataclass(frozen=True)
class Column:
    key: str  # also the sort key that orders by it
    label: str
    width: int  # cells it always gets, one of them the gutter (status: from the rows)
    grow: int = 0  # extra cells it takes when the terminal leaves some over
    comfort: int = 0  # of `grow`, what it gets before any column after Token expiry shows
    frozen: bool = False  # stays on screen while the others scroll sideways
    narrow: bool = False  # says its words in `narrow_status` form (a narrow table)


# In order of importance: what is broken and when first; the rest as width allows, then
# reached by scrolling sideways one column at a time (the frozen columns stay put).
COLUMNS = (
    Column("status", "Status", 0, frozen=True),
    Column("name", "Account", 18, grow=14, comfort=4, frozen=True),
    Column("expiry", "Token expiry", 19),
    Column("project", "Project", 20, grow=8),
    Column("platform", "Platform", 11),
    Column("since", "Since", 11),
    Column("checked", "Checked", 14),
    Column("connected", "Connected", 14),
    Column("leased", "Leased", 9),  # room for its title and a sort arrow
)
COLUMN_KEYS = tuple(column.key for column in COLUMNS)
# A narrow table's columns: the status in fewer words, so the account name has room.
NARROW_COLUMNS = (replace(COLUMNS[0], narrow=True), *COLUMNS[1:])
# What the account column needs for a typical handle ("customer299_instagram_12", ad
# account names like "Acme Coffee - TikTok Ads") and its gutter.
NAME_WANTED = 25
# The widest the status column gets; a longer (unknown) status is cut with an ellipsis.
STATUS_MAX = 24
# Short words for the status column (the line under the table says it in full).
SHORT_LABELS = {
    "reauth required": "reauth",
    "token valid": "valid",
    "token expired": "expired",
    "token revoked": "revoked",
    "token invalid": "invalid",
}
# Fewer words still, for a narrow table: at most 9 cells ("connected"), so at 80 columns the
# status, a 24-cell handle and "expired 3 days ago" fit side by side.
NARROW_LABELS = {"disconnected": "disconn."}
# The widest the columns ever get together (every one grown, the status at its widest).
TOTAL_WIDTH = STATUS_MAX + 1 + sum(c.width + c.grow for c in COLUMNS if c.key != "status")
Layout = tuple[tuple[Column, int], ...]
SINCE = Callable[[AccountRow], float | None]  # when a row's problem was first seen


def _no_since(row: AccountRow) -> float | None:
    return None


NO_SINCE: SINCE = _no_since
Cells = dict[str, Text]


def short_status(label: str) -> str:
    """A status label in as few cells as it can say it ("reauth", "expired",
    "expires <24 h"): the line under the table says it in full."""
    short = SHORT_LABELS.get(label)
    if short is not None:
        return short
    return label.replace("expires < ", "expires <", 1)


def narrow_status(label: str) -> str:
    """A status label for a narrow table: `short_status`, and "exp <24 h", "exp <7 d",
    "disconn."."""
    short = NARROW_LABELS.get(label) or short_status(label)
    if short.startswith("expires <"):
        limit = short.removeprefix("expires <").replace(" days", " d").replace(" months", " mo")
        short = f"exp <{limit}"
    return short


def status_labels(rows: list[AccountRow]) -> set[str]:
    return set(map(attrgetter("status_label"), rows))


def status_width(
    rows: list[AccountRow], labels: set[str] | None = None, narrow: bool = False
) -> int:
    """The status column's width: the widest short status among `rows` (gutter included),
    never narrower than its title with a sort arrow. By label only (a set of a few labels,
    2-12 ms for 50,000 rows, only when the rows change); `labels`: those labels, known
    already (the dashboard keeps them per project). `narrow`: in `narrow_status` words."""
    if labels is None:
        labels = status_labels(rows)
    words = narrow_status if narrow else short_status
    widest = max((2 + cell_len(words(label)) for label in labels), default=0)
    return min(max(widest, cell_len("Status ↓")), STATUS_MAX) + 1


def lay_out(width: int, status: int, narrow_status: int | None = None) -> Layout:
    """Every column with its width for a table `width` cells wide: each gets its own width
    while it fits, in order; once Token expiry fits, the account name gets its `comfort`
    before any later column; what is left after the columns that fit whole goes, a cell at
    a time in turn, to those of them that grow (the account and project names).
    `narrow_status`: the status column's width in `narrow_status` words, used when with
    `status` the account name would be narrower than `NAME_WANTED` and not even the
    Platform column would fit (80 columns: handles were cut at 17 cells)."""
    layout, fitting = _widths(COLUMNS, width, status)
    name = next(w for column, w in layout if column.key == "name")
    if narrow_status is None or name >= NAME_WANTED or "platform" in fitting:
        return layout
    return _widths(NARROW_COLUMNS, width, narrow_status)[0]


def _widths(columns: tuple[Column, ...], width: int, status: int) -> tuple[Layout, list[str]]:
    """`lay_out` for these columns: the layout and the keys of the columns that fit."""
    widths = {column.key: status if column.key == "status" else column.width for column in columns}
    grow = {column.key: column.grow for column in columns}
    used = 0
    fitting = []
    for column in columns:
        if used + widths[column.key] > width:
            break
        used += widths[column.key]
        fitting.append(column)
        if column.key == "expiry":  # what is broken and when is on screen: names come next
            for earlier in fitting:
                extra = min(earlier.comfort, width - used)
                widths[earlier.key] += extra
                grow[earlier.key] -= extra
                used += extra
    spare = width - used
    growing = {column.key: grow[column.key] for column in fitting if grow[column.key] > 0}
    while spare > 0 and growing:
        for key in list(growing):
            if spare == 0:
                break
            widths[key] += 1
            spare -= 1
            growing[key] -= 1
            if not growing[key]:
                del growing[key]
    layout = tuple((column, widths[column.key]) for column in columns)
    return layout, [column.key for column in fitting]


def cells_for(
    row: AccountRow,
    now: datetime,
    palette: Palette,
    warn_seconds: float,
    since: float | None = None,
    narrow: bool = False,
) -> Cells:
    """Every cell as literal Rich Text (API strings never become markup). `since`: when
    the row's problem was first seen (shown for problems only). `narrow`: the status in
    `narrow_status` words."""
    words = narrow_status if narrow else short_status
    status = Text(
        f"{SEVERITY_GLYPH[row.severity]} {words(row.status_label)}",
        style=palette.for_severity(row.severity),
    )
    expiry_style = palette.muted
    if row.kind == "social" and row.token_expires_at is not None:
        remaining = (row.token_expires_at - now).total_seconds()
        expiry_style = ""
        if row.status == "connected" and (remaining <= 0 or row.severity is Severity.CRITICAL):
            expiry_style = palette.critical
        elif row.status == "connected" and remaining <= warn_seconds:
            expiry_style = palette.warning
    expiry = relative_time(row.token_expires_at, now) if row.kind == "social" else "n/a (ads)"
    seen = ""
    if since is not None and row.severity >= Severity.WARNING:
        seen = when(datetime.fromtimestamp(since, UTC), now)
    return {
        "status": status,
        "name": Text(safe(row.name, 200)),
        "expiry": Text(expiry, style=expiry_style),
        "project": Text(safe(row.project_name, 200), style=palette.muted),
        "platform": Text(row.platform_label),
        "since": Text(seen, style=palette.for_severity(row.severity)),
        "checked": Text(age(row.checked_at, now) if row.checked_at else "—", style=palette.muted),
        "connected": Text(age(row.connected_at, now)),
        "leased": Text("leased" if row.leased else ""),
    }


_ROW_KEY = attrgetter("key")


def _position(rows: list[AccountRow], key: str | None, near: int) -> int | None:
    """Where the row keyed `key` is now: where it was (most refreshes move nothing), else
    one pass (cheaper than indexing every row of 50,000 on each change)."""
    if key is None:
        return None
    if near < len(rows) and rows[near].key == key:
        return near
    try:
        return list(map(_ROW_KEY, rows)).index(key)  # in C: 3 ms at 50,000 rows, a loop 16
    except ValueError:
        return None


def _same_rows(rows: list[AccountRow], shown: list[AccountRow]) -> bool:
    """The very row objects already shown, in the same order. Not `==`: new rows equal to
    the shown ones (a full rebuild) would be compared field by field (~200 ms at 50,000
    rows), and the table must hold the rows the board holds, not older equal copies."""
    return rows is shown or (len(rows) == len(shown) and all(map(is_, rows, shown)))


def _fit(text: Text, width: int) -> Text:
    """Exactly `width` cells: cut with an ellipsis, pad with spaces, one space of gutter."""
    cell = text.copy()
    cell.truncate(width - 1, overflow="ellipsis", pad=True)
    cell.append(" ")
    return cell


@dataclass(frozen=True)
class _View:
    now: datetime
    palette: Palette
    warn_seconds: float


class AccountsTable(ScrollView, can_focus=True):
    """Rows of `AccountRow`; `show_rows` replaces them, keeping the cursor on its account."""

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "select", "Details", show=False),
        *list_bindings(),
        # Sideways a column at a time (the status and account columns stay put).
        Binding("left,h", "column_left", "Column left", show=False),
        Binding("right,l", "column_right", "Column right", show=False),
    ]
    COMPONENT_CLASSES = {"accounts-table--header", "accounts-table--cursor", "accounts-table--odd"}
    DEFAULT_CSS = """
    AccountsTable { background: $surface; }
    AccountsTable > .accounts-table--header { background: $panel; text-style: bold; }
    AccountsTable > .accounts-table--cursor { background: $block-cursor-background;
        color: $block-cursor-foreground; text-style: bold; }
    AccountsTable:blur > .accounts-table--cursor { background: $block-cursor-blurred-background;
        color: $block-cursor-blurred-foreground; text-style: $block-cursor-blurred-text-style; }
    AccountsTable > .accounts-table--odd { background: $surface-lighten-1 40%; }
    """

    class RowHighlighted(Message):
        def __init__(self, table: AccountsTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> AccountsTable:
            return self.table

    class RowSelected(Message):
        def __init__(self, table: AccountsTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> AccountsTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[AccountRow] = []
        self._view: _View | None = None
        self._since: SINCE = NO_SINCE
        self._cache: dict[str, tuple[AccountRow, tuple, Cells]] = {}
        # row key -> (the row, how it was drawn, (its strip, the style after it), its cells)
        self._strips: dict[str, tuple[AccountRow, tuple, tuple[Strip, Style], Cells]] = {}
        self._header_cache: tuple[tuple, Strip] | None = None
        self.sort_column = "status"
        self.sort_reverse = False
        # The status column's width in short and in narrow words (see `lay_out`).
        self._status_widths = (status_width([]), status_width([], narrow=True))
        self.columns: Layout = lay_out(0, *self._status_widths)
        self._total_width = sum(width for _, width in self.columns)
        self._frozen_width = sum(width for column, width in self.columns if column.frozen)
        self.cursor_row = 0
        self.changes = 0  # observable by tests and benches: a quiet refresh changes nothing
        # Until the user moves, the cursor stays on the first (worst) row while data arrives.
        self.follow_top = True
        self.virtual_size = Size(self._total_width, 1)
        # Shown under the header when there are no rows ("Loading…", "Nothing matches…"):
        # drawn here rather than in a sibling widget, so the table never hides, keeps focus,
        # and the screen never needs a new layout.
        self.message = ""
        self._message_lines: tuple[tuple[str, int, str], list[Strip]] | None = None

    # -- data --------------------------------------------------------------------------------
    @property
    def selected_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row].key
        return None

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def show_rows(
        self,
        rows: list[AccountRow],
        now: datetime,
        palette: Palette,
        warn_seconds: float,
        since: SINCE = NO_SINCE,
        labels: Callable[[], set[str]] | None = None,
    ) -> None:
        """`since(row)`: when the row's problem was first seen (asked only for rows drawn).
        `labels()`: the rows' status labels, when the caller keeps them (asked only when the
        rows changed; see `status_width`)."""
        view = _View(now, palette, warn_seconds)
        if _same_rows(rows, self.rows) and view == self._view and since is self._since:
            return
        selected = self.selected_key
        same_rows = rows is self.rows
        self._view = view
        self._since = since
        if not same_rows:  # else only the clock moved: the status width stands (50,000 rows)
            self.rows = rows
            known = None if labels is None else labels()
            if known is None:
                known = status_labels(rows)
            self._status_widths = (
                status_width(rows, known),
                status_width(rows, known, narrow=True),
            )
        self._lay_out()
        self.changes += 1
        found = None if self.follow_top else _position(rows, selected, self.cursor_row)
        if self.follow_top:
            target = 0
        elif found is not None:
            target = found
        else:
            target = min(self.cursor_row, max(0, len(rows) - 1))
        self._move(
            target,
            scroll=not self.follow_top,
            announce=target != self.cursor_row or selected != self.selected_key,
        )
        self.refresh()

    def show_sort(self, column: str, reverse: bool) -> None:
        """Which column orders the rows: an arrow in its title. A new sort column scrolled
        off to either side is scrolled into view (its arrow would be off screen)."""
        if (column, reverse) != (self.sort_column, self.sort_reverse):
            moved = column != self.sort_column
            self.sort_column, self.sort_reverse = column, reverse
            self.refresh(Region(0, 0, self.size.width, 1))
            if moved:
                self.scroll_to_column(column)

    def scroll_to_column(self, key: str) -> None:
        """Scroll sideways, by whole columns and as little as it takes, so the column keyed
        `key` is wholly on screen (a frozen column always is)."""
        start = end = None
        x = 0
        for column, width in self.columns:
            if column.frozen:
                continue
            if column.key == key:
                start, end = x, x + width - 1  # its gutter may be off screen
                break
            x += width
        if start is None or end is None:
            return
        view = self.scrollable_content_region.width
        room = view - self._frozen_width
        if start < self.scroll_x:
            target = start
        elif end - self.scroll_x > room:
            target = next((stop for stop in self._column_stops() if end - stop <= room), start)
        else:
            return
        furthest = max(0, self._total_width - view)
        self.scroll_to(x=min(target, furthest), animate=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out()

    def _lay_out(self) -> None:
        """Column widths for the width on screen; caches of drawn rows go when they move."""
        layout = lay_out(self.scrollable_content_region.width, *self._status_widths)
        if layout != self.columns:
            self.columns = layout
            self._total_width = sum(width for _, width in layout)
            self._frozen_width = sum(width for column, width in layout if column.frozen)
            self._strips.clear()
            self.refresh()
        self.virtual_size = Size(self._total_width, len(self.rows) + 1)

    @property
    def narrow(self) -> bool:
        """The status column says its words in `narrow_status` form."""
        return any(column.narrow for column, _ in self.columns)

    @property
    def visible_columns(self) -> list[str]:
        """The keys of the columns wholly on screen at the current sideways scroll."""
        width = self.scrollable_content_region.width
        shown, x = [], 0
        for column, column_width in self.columns:
            if column.frozen:
                start = x
            else:
                start = x - int(self.scroll_x)
                if start < self._frozen_width:
                    x += column_width
                    continue
            if start + column_width - 1 <= width:  # its gutter may be off screen
                shown.append(column.key)
            x += column_width
        return shown

    def show_message(self, message: str) -> None:
        """Text for an empty table (already made safe by the caller)."""
        if message != self.message:
            self.message = message
            self.refresh()

    def _cells(self, row: AccountRow) -> Cells:
        view = self._view
        assert view is not None
        since = self._since(row)
        narrow = self.narrow
        cached = self._cache.get(row.key)
        if cached is not None and cached[0] == row and cached[1] == (view, since, narrow):
            return cached[2]
        cells = cells_for(row, view.now, view.palette, view.warn_seconds, since, narrow)
        self._cache[row.key] = (row, (view, since, narrow), cells)
        if len(self._cache) > 4 * max(len(self.rows), 200):
            self._cache.clear()  # keys of rows that are gone
            self._strips.clear()
        return cells

    # -- rendering -------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if y == 0:
            return self._visible(self._header(), scroll_x, width, self._header_style())
        index = scroll_y + y - 1
        if not self.rows and self.message:
            return self._message_line(y - 1, width)
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        if index == self.cursor_row:
            # Focused and blurred cursors are drawn differently (`:blur` in DEFAULT_CSS), so
            # a cached strip of one must never stand in for the other.
            variant = "cursor" if self.has_focus else "cursor-blurred"
        else:
            variant = "odd" if index % 2 else "even"
        drawn_as = (self._view, variant, self.app.theme, self._since(row))
        cached = self._strips.get(row.key)
        if cached is not None and cached[0] is row and cached[1] == drawn_as:
            strip, base = cached[2]
        elif (
            cached is not None
            and cached[0] is row
            and cached[1][1:] == drawn_as[1:]
            and cached[3] == (cells := self._cells(row))
        ):
            # Only the time the rows are drawn at moved (every recompute) and the row reads
            # the same: the same strip (a full repaint of the table every 30 s otherwise).
            strip, base = cached[2]
            self._strips[row.key] = (row, drawn_as, cached[2], cells)
        else:
            strip, base = self._row_strip(row, variant)
            self._strips[row.key] = (row, drawn_as, (strip, base), self._cells(row))
        return self._visible(strip, scroll_x, width, base)

    def _visible(self, strip: Strip, scroll_x: int, width: int, base: Style) -> Strip:
        """The part of a full-width line on screen: the frozen columns, then the others from
        the sideways scroll on. Past the last column the line's own background continues: a
        segment without a style there would crash Textual's opacity and monochrome filters."""
        frozen = min(self._frozen_width, width)
        if not scroll_x or frozen == 0:
            return strip.crop_extend(scroll_x, scroll_x + width, base)
        start = self._frozen_width + scroll_x
        rest = strip.crop_extend(start, start + width - frozen, base)
        return Strip.join([strip.crop(0, frozen), rest])

    def _message_line(self, line: int, width: int) -> Strip:
        """The message wrapped to the width, two lines below the header, indented."""
        key = (self.message, width, self.app.theme)
        if self._message_lines is None or self._message_lines[0] != key:
            style = self.rich_style + Style(dim=True)
            lines = Text(self.message).wrap(self.app.console, max(10, width - 8))
            strips = [
                Strip([Segment("    ", style), *line.render(self.app.console)], None)
                .apply_style(style)
                .extend_cell_length(width, style)
                .crop(0, width)
                for line in lines
            ]
            self._message_lines = (key, strips)
        strips = self._message_lines[1]
        if 2 <= line < 2 + len(strips):
            return strips[line - 2]
        return Strip.blank(width, self.rich_style)

    def _header_style(self) -> Style:
        return self.rich_style + self.get_component_rich_style("accounts-table--header")

    def _header(self) -> Strip:
        key = (self.app.theme, self.columns, self.sort_column, self.sort_reverse)
        if self._header_cache is None or self._header_cache[0] != key:
            arrow = " ↑" if self.sort_reverse else " ↓"
            text = Text.assemble(
                *(
                    _fit(Text(column.label + (arrow if column.key == self.sort_column else "")), w)
                    for column, w in self.columns
                )
            )
            self._header_cache = (key, self._to_strip(text, self._header_style()))
        return self._header_cache[1]

    def _row_strip(self, row: AccountRow, variant: str) -> tuple[Strip, Style]:
        """The row drawn at its natural width, and the style that continues it."""
        cells = self._cells(row)
        text = Text.assemble(*(_fit(cells[column.key], w) for column, w in self.columns))
        if variant.startswith("cursor"):
            style = self.get_component_rich_style("accounts-table--cursor")
            text.stylize(style)
            style = self.rich_style + style
        elif variant == "odd":
            style = self.rich_style + self.get_component_rich_style("accounts-table--odd")
        else:
            style = self.rich_style
        return self._to_strip(text, style), style

    def _to_strip(self, text: Text, base: Style) -> Strip:
        segments = [
            Segment(seg.text, base + seg.style if seg.style else base)
            for seg in text.render(self.app.console)
        ]
        total = self._total_width
        return Strip(segments, total).extend_cell_length(total, base)

    # -- cursor -----------------------------------------------------------------------------------
    def move_cursor(self, *, row: int, scroll: bool = True) -> None:
        self.follow_top = False
        self._move(row, scroll=scroll, announce=True)

    def _move(self, row: int, *, scroll: bool, announce: bool) -> None:
        previous = self.cursor_row
        self.cursor_row = max(0, min(row, len(self.rows) - 1)) if self.rows else 0
        if scroll:
            # Keep the cursor row in view below the sticky header (drawn on line 0).
            self.scroll_to_region(
                Region(0, self.cursor_row, 1, 2),
                animate=False,
                spacing=None,
                force=True,
                immediate=True,
            )
        if previous != self.cursor_row:
            self.refresh()
        if announce:
            self.post_message(self.RowHighlighted(self, self.selected_key))

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self.rows) - 1)

    def action_half_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + half_page(self.size.height - 1))

    def action_half_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - half_page(self.size.height - 1))

    def _column_stops(self) -> list[int]:
        """Sideways scroll offsets at which a scrolling column starts right after the
        frozen ones."""
        stops, x = [], 0
        for column, width in self.columns:
            if not column.frozen:
                stops.append(x)
                x += width
        return stops

    def action_column_right(self) -> None:
        furthest = max(0, self._total_width - self.scrollable_content_region.width)
        ahead = [stop for stop in self._column_stops() if stop > self.scroll_x]
        target = min(ahead[0] if ahead else furthest, furthest)
        self.scroll_to(x=target, animate=False, immediate=True)

    def action_column_left(self) -> None:
        behind = [stop for stop in self._column_stops() if stop < self.scroll_x]
        self.scroll_to(x=behind[-1] if behind else 0, animate=False, immediate=True)

    def action_select(self) -> None:
        key = self.selected_key
        if key is not None:
            self.post_message(self.RowSelected(self, key))

    def on_click(self, event: events.Click) -> None:
        line = event.y
        if line < 1:
            return
        index = self.scroll_offset.y + line - 1
        if index < len(self.rows):
            self.move_cursor(row=index, scroll=False)
            if event.chain >= 2:
                self.action_select()

"""A QR code drawn with half blocks in fixed black on white, whatever the theme.

Each cell shows two modules: `▀` with the top module as foreground and the bottom one as
background. The quiet zone (4 modules) is part of the drawing, so the code scans on dark and
light terminals alike.
"""

from __future__ import annotations

from functools import lru_cache

import segno
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from layers_tui.probes import QUIET_ZONE, qr_layout

DARK = "#000000"
LIGHT = "#ffffff"
BORDER = QUIET_ZONE


@lru_cache(maxsize=32)
def qr_matrix(data: str, border: int = BORDER) -> tuple[tuple[bool, ...], ...]:
    """Module rows (True = dark) including the quiet zone. ECC L keeps the code smallest.
    Cached: encoding a 400-character URL takes segno a noticeable fraction of a second."""
    code = segno.make(data, error="l", boost_error=False)
    return tuple(tuple(bool(m) for m in row) for row in code.matrix_iter(border=border))


def qr_cells(matrix: tuple[tuple[bool, ...], ...]) -> list[list[tuple[bool, bool]]]:
    """Pairs of module rows -> cells of (top dark, bottom dark); an odd last row pairs with
    light (quiet zone colour)."""
    rows = []
    for top in range(0, len(matrix), 2):
        upper = matrix[top]
        lower = matrix[top + 1] if top + 1 < len(matrix) else (False,) * len(upper)
        rows.append(list(zip(upper, lower, strict=True)))
    return rows


def qr_size(data: str, border: int = BORDER) -> Size:
    matrix = qr_matrix(data, border)
    return Size(len(matrix[0]), (len(matrix) + 1) // 2)


_STYLES = {
    (top, bottom): Style(color=DARK if top else LIGHT, bgcolor=DARK if bottom else LIGHT)
    for top in (False, True)
    for bottom in (False, True)
}


class QrPanel(Widget):
    """Shows `data` as a QR code; `fits` says whether the whole code is visible."""

    DEFAULT_CSS = """
    QrPanel { width: auto; height: auto; }
    """

    def __init__(self, data: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: list[Strip] = []
        self.border = BORDER
        self.set_data(data)

    def set_data(self, data: str, border: int = BORDER) -> None:
        """Draw `data`; `border` below 4 only where the panel itself is the quiet zone."""
        if getattr(self, "data", None) == data and self.border == border:
            return
        self.data = data
        self.border = border
        cells = qr_cells(qr_matrix(data, border)) if data else []
        self._rows = [
            Strip([Segment("▀", _STYLES[cell]) for cell in row], len(row)) for row in cells
        ]
        self.refresh(layout=True)

    @property
    def qr_size(self) -> Size:
        return Size(self._rows[0].cell_length if self._rows else 0, len(self._rows))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return self.qr_size.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self.qr_size.height

    def render_line(self, y: int) -> Strip:
        if 0 <= y < len(self._rows):
            return self._rows[y]
        return Strip.blank(self.size.width, self.rich_style)


def choose_layout(data: str, width: int, height: int) -> tuple[str, int, Size]:
    """`probes.qr_layout` (the rule `doctor` reports with too) with a Textual `Size`:
    ("side" | "full" | "none", quiet zone, size of the code or of the terminal it needs)."""
    mode, border, (columns, rows) = qr_layout(data, width, height)
    return mode, border, Size(columns, rows)

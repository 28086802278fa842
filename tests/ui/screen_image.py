"""Rebuild a picture of the screen from the cells Textual would draw (glyphs and colours),
so a QR code is decoded from what the user sees, not from the matrix it was drawn from."""

from __future__ import annotations

from PIL import Image, ImageDraw
from rich.cells import cell_len

CELL_W, CELL_H = 4, 8  # a terminal cell is twice as tall as wide: one half block = 4x4


def _rgb(color, fallback):
    if color is None:
        return fallback
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def screen_image(app) -> Image.Image:
    strips = app.screen._compositor.render_strips()
    width = max(strip.cell_length for strip in strips)
    image = Image.new("RGB", (width * CELL_W, len(strips) * CELL_H), (128, 128, 128))
    draw = ImageDraw.Draw(image)
    for row, strip in enumerate(strips):
        column = 0
        for segment in strip:
            style = segment.style
            fg = _rgb(style.color if style else None, (200, 200, 200))
            bg = _rgb(style.bgcolor if style else None, (30, 30, 30))
            if style is not None and style.reverse:
                fg, bg = bg, fg
            for char in segment.text:
                x, y = column * CELL_W, row * CELL_H
                top, bottom = {"▀": (fg, bg), "▄": (bg, fg), "█": (fg, fg)}.get(char, (bg, bg))
                draw.rectangle([x, y, x + CELL_W - 1, y + CELL_H // 2 - 1], fill=top)
                draw.rectangle([x, y + CELL_H // 2, x + CELL_W - 1, y + CELL_H - 1], fill=bottom)
                column += max(1, cell_len(char))
    return image

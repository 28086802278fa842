"""Colours for Rich text cells, taken from the active Textual theme (so light themes work)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App
from textual.color import Color, ColorParseError

from layers_tui.domain.status import Severity


@dataclass(frozen=True)
class Palette:
    critical: str
    warning: str
    ok: str
    muted: str
    accent: str

    def for_severity(self, severity: Severity) -> str:
        return {
            Severity.CRITICAL: f"bold {self.critical}",
            Severity.WARNING: self.warning,
            Severity.OK: self.ok,
            Severity.OFF: self.muted,
        }[severity]


def _color(variables: dict[str, str], name: str, fallback: str) -> str:
    try:
        return Color.parse(variables[name]).hex
    except (KeyError, ColorParseError):
        return fallback


# WCAG 2 AA for normal text: status words must read at 4.5:1 against what they sit on.
MIN_CONTRAST = 4.5

_palettes: dict[tuple[str, bool], Palette] = {}


def palette_for(app: App) -> Palette:
    """The current theme's colours for Rich text (computed once per theme)."""
    key = (app.theme, bool(getattr(app, "no_color", False)))
    cached = _palettes.get(key)
    if cached is None:
        cached = _palettes[key] = _palette(app)
    return cached


def relative_luminance(color: Color) -> float:
    """WCAG 2 relative luminance of an opaque colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)


def contrast_ratio(first: Color, second: Color) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    light, dark = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def readable(color: Color, backgrounds: list[Color]) -> Color:
    """`color`, moved toward black (light backgrounds) or white (dark ones) just enough to
    reach `MIN_CONTRAST` on every one of `backgrounds`; unchanged when it already does, or
    when it is an ANSI colour (the terminal picks those). The hue stays recognisable:
    orange becomes a darker orange on a light theme."""
    if color.ansi is not None or any(back.ansi is not None for back in backgrounds):
        return color
    dark = sum(relative_luminance(back) for back in backgrounds) / len(backgrounds) < 0.18
    toward = Color(255, 255, 255) if dark else Color(0, 0, 0)
    for step in range(0, 101, 2):
        candidate = color.blend(toward, step / 100)
        if all(contrast_ratio(candidate, back) >= MIN_CONTRAST for back in backgrounds):
            return candidate
    return toward


def _palette(app: App) -> Palette:
    variables = app.get_css_variables()
    background = _color(variables, "background", "#000000")
    foreground = _color(variables, "foreground", "#ffffff")
    # `text-muted` is "auto 60%", not a colour Rich understands: blend it ourselves.
    muted = Color.parse(background).blend(Color.parse(foreground), 0.6)
    if getattr(app, "no_color", False):
        # NO_COLOR greys every colour by its luminance, so red (critical) would come out
        # darker than green (ok): status words use the text colour, told apart by their
        # glyphs and by bold, and only "off" is muted.
        return Palette(
            critical=foreground,
            warning=foreground,
            ok=foreground,
            muted=muted.hex,
            accent=foreground,
        )
    # Status text sits on the screen's background and in tables and dialogs ($surface).
    backgrounds = [
        Color.parse(_color(variables, name, background)) for name in ("background", "surface")
    ]

    def status(name: str, fallback: str) -> str:
        return readable(Color.parse(_color(variables, name, fallback)), backgrounds).hex

    return Palette(
        critical=status("error", "red"),
        warning=status("warning", "yellow"),
        ok=status("success", "green"),
        muted=readable(muted, backgrounds).hex,
        accent=status("accent", "cyan"),
    )

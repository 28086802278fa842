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


_palettes: dict[str, Palette] = {}


def palette_for(app: App) -> Palette:
    """The current theme's colours for Rich text (computed once per theme)."""
    cached = _palettes.get(app.theme)
    if cached is None:
        cached = _palettes[app.theme] = _palette(app)
    return cached


def _palette(app: App) -> Palette:
    variables = app.get_css_variables()
    background = _color(variables, "background", "#000000")
    foreground = _color(variables, "foreground", "#ffffff")
    # `text-muted` is "auto 60%", not a colour Rich understands: blend it ourselves.
    muted = Color.parse(background).blend(Color.parse(foreground), 0.6).hex
    return Palette(
        critical=_color(variables, "error", "red"),
        warning=_color(variables, "warning", "yellow"),
        ok=_color(variables, "success", "green"),
        muted=muted,
        accent=_color(variables, "accent", "cyan"),
    )

"""Status text meets WCAG AA (4.5:1) in every theme the app offers, computed from the
theme's own colours; so does every word of the status line, measured as drawn (with and
without NO_COLOR); under NO_COLOR the critical glyph is not greyer than OK's and the
dashboard's borders read at 3:1."""

from __future__ import annotations

import pytest
from rich.segment import Segment
from textual.app import App
from textual.color import Color
from textual.geometry import Region

from layers_tui.api import ApiError
from layers_tui.domain.status import Severity
from layers_tui.ui.widgets.palette import (
    MIN_CONTRAST,
    contrast_ratio,
    palette_for,
    relative_luminance,
)
from layers_tui.ui.widgets.status_line import StatusLine
from tests.scenes import build, loaded

STATUS_COLOURS = ("critical", "warning", "ok", "muted")


def test_contrast_ratio_matches_the_wcag_reference_values():
    assert contrast_ratio(Color(0, 0, 0), Color(255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio(Color(255, 255, 255), Color(255, 255, 255)) == pytest.approx(1.0)
    # #777777 on white is the classic just-below-AA grey (4.48:1).
    assert contrast_ratio(Color.parse("#777777"), Color(255, 255, 255)) == pytest.approx(
        4.48, abs=0.01
    )


async def test_every_theme_status_colour_reads_at_aa_on_background_and_surface():
    app = App()
    measured: dict[str, dict[str, float]] = {}
    async with app.run_test():
        themes = sorted(app.available_themes)
        assert {"textual-dark", "textual-light"} <= set(themes)
        for theme in themes:
            if theme.startswith("ansi-"):
                continue  # the terminal's own 16 colours: no RGB to measure
            app.theme = theme
            variables = app.get_css_variables()
            palette = palette_for(app)
            for back_name in ("background", "surface"):
                back = Color.parse(variables[back_name])
                for name in STATUS_COLOURS:
                    ratio = contrast_ratio(Color.parse(getattr(palette, name)), back)
                    measured.setdefault(theme, {})[f"{name}/{back_name}"] = ratio
    too_low = {
        theme: {what: round(ratio, 2) for what, ratio in ratios.items() if ratio < MIN_CONTRAST}
        for theme, ratios in measured.items()
    }
    assert not {theme: low for theme, low in too_low.items() if low}
    assert len(measured) >= 2


async def test_light_theme_warning_is_a_darker_orange_not_the_raw_theme_colour():
    app = App()
    async with app.run_test():
        app.theme = "textual-light"
        raw = Color.parse(app.get_css_variables()["warning"])
        background = Color.parse(app.get_css_variables()["background"])
        assert contrast_ratio(raw, background) < MIN_CONTRAST  # the problem as reported
        warning = Color.parse(palette_for(app).warning)
        assert contrast_ratio(warning, background) >= MIN_CONTRAST
        assert warning.r > warning.b  # still orange-ish, not grey


async def test_no_color_critical_is_not_dimmer_than_ok():
    harness = build(no_color=True)
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert harness.app.no_color
        palette = palette_for(harness.app)
        critical = palette.for_severity(Severity.CRITICAL)
        ok = palette.for_severity(Severity.OK)
        assert "bold" in critical
        critical_colour = Color.parse(critical.split()[-1])
        ok_colour = Color.parse(ok.split()[-1])
        assert relative_luminance(critical_colour) >= relative_luminance(ok_colour)
        off = Color.parse(palette.for_severity(Severity.OFF))
        assert relative_luminance(off) < relative_luminance(ok_colour)  # off stays muted


# WCAG 2 (1.4.11) for lines that show where a pane is: 3:1 against what they sit on.
MIN_LINE_CONTRAST = 3.0
BORDER_CELLS = set("╭╮╰╯│─┏┓┗┛┃━▊")


def as_drawn(app: App, segments: list[Segment]) -> list[Segment]:
    """The segments as the terminal gets them: through the app's filters (ANSI colours to
    the theme's RGB; under NO_COLOR, every colour to grey)."""
    for line_filter in app._filters:
        if line_filter.enabled:
            segments = line_filter.apply(segments, Color(0, 0, 0))
    return segments


def segment_contrast(segment: Segment) -> float:
    style = segment.style
    assert style is not None and style.color is not None and style.bgcolor is not None
    return contrast_ratio(Color.from_rich_color(style.color), Color.from_rich_color(style.bgcolor))


def status_line_too_low(app: App) -> dict[str, float]:
    """Every word on the status line that reads below AA, with its contrast."""
    line = app.screen.query_one(StatusLine)
    too_low: dict[str, float] = {}
    for strip in line.render_lines(Region(0, 0, line.size.width, line.size.height)):
        for segment in as_drawn(app, list(strip)):
            if segment.text.strip():
                ratio = segment_contrast(segment)
                if ratio < MIN_CONTRAST:
                    too_low[segment.text.strip()] = round(ratio, 2)
    return too_low


async def status_line_in_every_theme(no_color: bool) -> dict[str, dict[str, float]]:
    """The status line's words below AA, by theme, in two states: the scope (read-only,
    problems only, a filter, one project), then a refresh error."""
    harness = build(no_color=no_color, read_only=True)
    app = harness.app
    found: dict[str, dict[str, float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("exclamation_mark", "slash", *"tiktok", "enter", "tab", "j")
        await loaded(pilot)
        screen = app.screen
        line = screen.query_one(StatusLine)
        for theme in sorted(app.available_themes):
            if theme.startswith("ansi-"):
                continue  # the terminal's own 16 colours: no RGB to measure
            app.theme = theme
            await pilot.pause()
            screen.last_error = None
            screen.render_status()
            await pilot.pause()
            text = "\n".join(strip.text for strip in line.render_lines(Region(0, 0, 120, 2)))
            for part in ("READ-ONLY", "problems only", "filter: tiktok", "project: ", "✖ "):
                assert part in text  # every colour the line uses is measured
            found[theme] = status_line_too_low(app)
            screen.last_error = ApiError(500, "INTERNAL", "Injected failure", "req_1")
            screen.render_status()
            await pilot.pause()
            assert "⚠" in line.render_lines(Region(0, 1, 120, 1))[0].text
            found[theme] |= status_line_too_low(app)
    assert len(found) >= 2
    return {theme: low for theme, low in found.items() if low}


async def test_every_theme_status_line_reads_at_aa_as_drawn():
    assert await status_line_in_every_theme(no_color=False) == {}


async def test_every_theme_status_line_reads_at_aa_under_no_color():
    assert await status_line_in_every_theme(no_color=True) == {}


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_no_color_dashboard_borders_read_at_3_to_1_focused_or_not(theme):
    harness = build(theme=theme, no_color=True)
    app = harness.app
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        for focused in ("table", "projects"):
            lines = [
                segment
                for strip in app.screen._compositor.render_strips()
                for segment in as_drawn(app, list(strip))
                if segment.text and set(segment.text) <= BORDER_CELLS
            ]
            assert len(lines) > 20, focused  # the project list's box and the scrollbar
            ratios = [segment_contrast(segment) for segment in lines]
            assert min(ratios) >= MIN_LINE_CONTRAST, (focused, round(min(ratios), 2))
            await pilot.press("tab")
            await pilot.pause()

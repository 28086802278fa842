"""Status text meets WCAG AA (4.5:1) in every theme the app offers, computed from the
theme's own colours; under NO_COLOR the critical glyph is not greyer than OK's."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.color import Color

from layers_tui.domain.status import Severity
from layers_tui.ui.widgets.palette import (
    MIN_CONTRAST,
    contrast_ratio,
    palette_for,
    relative_luminance,
)
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

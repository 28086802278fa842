"""The project list's lines let the name win: at 120 columns every line of a large
organisation read "✖ Custom… ✖2 ▲2 ·2 min", and no customer could be told from another.
The age, "(empty)" and the spaces between the counts give way first; a name cut keeps its
distinguishing end ("Cust…1991")."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from layers_tui.domain.status import Summary
from layers_tui.sandbox.app import create_app
from layers_tui.sandbox.clock import SandboxClock
from layers_tui.ui.widgets.palette import Palette
from layers_tui.ui.widgets.project_list import ProjectList, cut_name, project_prompt
from tests.scenes import START, build, loaded

PALETTE = Palette(critical="red", warning="yellow", ok="green", muted="grey50", accent="cyan")
PROBLEMS = Summary(critical=2, warning=2, ok=5)


def line(name: str, summary: Summary | None, width: int, age: str = "", failed=False) -> str:
    return project_prompt(name, summary, failed, False, PALETTE, age, width).plain


def test_a_numbered_name_keeps_its_number_and_loses_its_middle():
    assert cut_name("Customer 1991", 9) == "Cust…1991"
    assert cut_name("Customer 1991", 12) == "Custome…1991"
    assert cut_name("Customer 1991", 13) == "Customer 1991"
    assert cut_name("Acme Global EU", 10) == "Acme Gl…EU"  # a short code tells them apart too


def test_other_names_lose_their_end_and_every_cut_fits_its_cells():
    assert cut_name("Northwind Fitness", 12) == "Northwind F…"
    assert cut_name("Customer 1991", 7) == "Custom…"  # no room for 3 cells and the number
    assert cut_name("Bloom & Wild", 9) == "Bloom &…"
    cut = cut_name("東京本社チーム 2024", 11)
    assert cut.endswith("…2024") and cell_len(cut) <= 11


def test_the_age_goes_before_the_name_is_cut():
    assert line("Customer 1991", PROBLEMS, 30, "2 h") == "✖ Customer 1991 ✖2 ▲2 ·2 h"
    assert line("Customer 1991", PROBLEMS, 22, "2 h") == "✖ Customer 1991 ✖2 ▲2"


def test_empty_shortens_then_goes_and_the_counts_pack_before_the_name_is_cut():
    assert line("Customer 0007", Summary(), 30) == "○ Customer 0007 (empty)"
    assert line("Customer 0007", Summary(), 21) == "○ Customer 0007 empty"
    assert line("Customer 0007", Summary(), 16) == "○ Customer 0007"
    assert line("Customer 1991", PROBLEMS, 20) == "✖ Customer 1991 ✖2▲2"
    assert line("Customer 1991", PROBLEMS, 16) == "✖ Cust…1991 ✖2▲2"


def test_a_failed_project_keeps_its_name_and_its_glyph():
    assert line("Customer 1991", None, 30, failed=True) == "⚠ Customer 1991 failed"
    assert line("Customer 1991", None, 16, failed=True) == "⚠ Customer 1991"


@pytest.mark.parametrize(
    ("size", "prompt_cells"),
    [((80, 24), 16), ((120, 40), 22), ((200, 50), 30)],
)
async def test_every_visible_line_of_a_numbered_organisation_names_its_project(size, prompt_cells):
    sandbox = create_app(
        clock=SandboxClock(base=lambda: START),
        rng_seed=1,
        projects=60,
        accounts_per_project=3,
        tier="partner",
    )
    harness = build(sandbox=sandbox)
    async with harness.app.run_test(size=size) as pilot:
        await loaded(pilot)
        projects = harness.app.screen.query_one(ProjectList)
        assert projects.prompt_width(61) == prompt_cells
        lines = [
            str(projects.get_option_at_index(index).prompt)
            for index in range(1, projects.option_count)
        ]
        assert len(lines) == 60
        every = str(projects.get_option_at_index(0).prompt)
        assert every.startswith("✖ All ") and "…" not in every, every  # never "All pr…"
        assert len(set(lines)) == 60, lines  # no two lines alike
        for text in lines:
            number = text.split("…")[-1].split()[0] if "…" in text else text.split()[2]
            assert number.isdigit() and len(number) == 4, text  # the digits always show
            assert cell_len(text) <= prompt_cells, text


async def test_a_line_shows_its_age_only_past_twice_the_time_a_pass_takes():
    """2,000 projects at the standard tier's 120 req/min: a pass takes ~42 min, so at
    twice the refresh interval (the old rule) every line carried an age."""
    harness = build(refresh_interval=60)
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        screen = harness.app.screen
        assert screen.old_data_after() == 120  # a small organisation: its pass fits
        screen.board.projects = screen.board.projects * (2000 // len(screen.board.projects))
        assert screen.old_data_after() > 60 * 60  # its pass cannot take under 30 min

"""Walk fix: Help in --read-only says why c r R d do nothing: "(read-only)", not "(not now)"."""

from __future__ import annotations

from rich.table import Table
from textual.widgets import Static

from layers_tui.ui.screens.help import HelpScreen
from tests.scenes import build, loaded, select_account, start_reauth


def dimmed_rows(help_screen: HelpScreen) -> dict[str, str]:
    """key -> description, for the rows Help draws dimmed."""
    table = help_screen.query_one("#help-keys", Static).content
    assert isinstance(table, Table)
    keys, texts = (list(column.cells) for column in table.columns)
    rows = zip(keys, texts, strict=True)
    return {str(key): str(text) for key, text in rows if getattr(key, "style", "") == "dim"}


async def open_help(pilot) -> HelpScreen:
    await pilot.press("question_mark")
    await pilot.pause()
    help_screen = pilot.app.screen
    assert isinstance(help_screen, HelpScreen)
    return help_screen


async def test_read_only_help_says_read_only_beside_the_write_keys():
    harness = build(read_only=True)
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await select_account(pilot, "acme_baristas")
        dimmed = dimmed_rows(await open_help(pilot))
        for key, words in (("c", "Connect"), ("r", "Reauth"), ("R", "Reauth all"), ("d", "Revoke")):
            row = next(text for keys, text in dimmed.items() if key in keys.split())
            assert row.startswith(words) and row.endswith(" (read-only)"), row
        assert not any(text.endswith("(not now)") for text in dimmed.values()), dimmed


async def test_a_key_that_applies_later_still_says_not_now():
    harness = build()
    async with harness.app.run_test(size=(120, 40)) as pilot:
        screen = await start_reauth(pilot)
        harness.app.engine.cancel(screen.flow.id)  # a finished link: y m o do nothing
        await pilot.pause()
        dimmed = dimmed_rows(await open_help(pilot))
        assert dimmed["y"] == "Copy link (not now)"
        assert not any("read-only" in text for text in dimmed.values())

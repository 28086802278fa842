"""The README's dashboard key table and Help list the same keys: Help comes from the
bindings, so a key added, renamed or dropped without the README fails here."""

from __future__ import annotations

import re
from pathlib import Path

from layers_tui.ui.keys import Group, key_hints
from tests.scenes import build, loaded

README = Path(__file__).resolve().parents[2] / "README.md"
SIZE = (120, 40)


def readme_keys() -> set[str]:
    """Every key in the first column of the README's dashboard key table."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("| key | action |") :]
    table = table[: table.index("\n\n")]
    keys: set[str] = set()
    for line in table.splitlines()[2:]:
        first = line.split("|")[1]
        keys.update(re.findall(r"`([^`]+)`", first))
    return keys


async def test_the_readme_key_table_lists_exactly_the_dashboards_keys():
    harness = build(demo=False)
    async with harness.app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        hints = key_hints(pilot.app.screen)
    screen_keys = {key for hint in hints if hint.group is Group.SCREEN for key in hint.displays}
    table_keys = {key for hint in hints if hint.group is Group.WIDGET for key in hint.displays}
    documented = readme_keys()
    # Every key of the dashboard itself is in the table...
    assert screen_keys - documented == set()
    # ...and every key in the table is one the dashboard or its table really has.
    assert documented - screen_keys - table_keys == set()
    # The table's own moves that matter to a keyboard user are documented too.
    assert {"j", "k", "g", "G", "^d", "^u", "h", "l", "⏎"} <= documented & table_keys

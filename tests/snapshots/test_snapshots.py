"""Every screen and state, at fixed sizes, from the shared scenes (plain `def`: the plugin
runs the app in its own event loop)."""

from __future__ import annotations

import pytest

from tests.scenes import SCENES, scene_app


@pytest.mark.parametrize("name", list(SCENES))
def test_scene(snap_compare, name):
    harness, run_before = scene_app(name)
    assert snap_compare(harness.app, run_before=run_before, terminal_size=SCENES[name].size)

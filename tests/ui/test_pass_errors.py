"""Failures during a long pass are said while they are news, not only when it ends."""

from __future__ import annotations

from dataclasses import replace

from layers_tui.api import ApiError
from layers_tui.inventory import ProjectSnapshot
from layers_tui.session.inventory import ProjectUpdated
from layers_tui.ui.widgets.status_line import StatusLine
from tests.scenes import build, loaded


async def test_failures_during_a_pass_are_said_at_once_and_cleared_by_a_success():
    """A long pass over an unreachable API said only "(15 failed)" in its progress until it
    ended minutes later: the latest fetch's error is on the status line while it is news."""
    harness = build()
    async with harness.app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        app, screen = harness.app, harness.app.screen
        projects = list(screen.board.projects)
        down = ApiError(None, "CONNECTION_FAILED", "Cannot reach the API", "req_walk_1")
        app.inventory_event(ProjectUpdated(ProjectSnapshot(projects[0], error=down)))
        await pilot.pause()
        text = str(screen.query_one(StatusLine).render())
        assert "CONNECTION_FAILED" in text
        fresh = next(s for s in app.session.inventory.load_cached() if s.project == projects[1])
        app.inventory_event(ProjectUpdated(replace(fresh, fetched_at=harness.clock.now())))
        await pilot.pause()
        assert "CONNECTION_FAILED" not in str(screen.query_one(StatusLine).render())

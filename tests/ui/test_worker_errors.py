"""A worker that fails with something other than an `ApiError` is reported, never silent."""

from __future__ import annotations

import logging

import pytest

from layers_tui.api import LayersClient
from tests.scenes import build, loaded

KEY = "lp_test_" + "LEAK0000000000000001" + "_" + "s" * 32


async def boom() -> None:
    raise RuntimeError(f"surprise\n[bold]{KEY}[/bold]\x1b[2J")


def error_toasts(app) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]


@pytest.mark.parametrize("owner", ["app", "screen"])
async def test_a_failed_worker_is_a_redacted_one_line_toast_and_a_logged_traceback(owner, caplog):
    harness = build()
    async with harness.app.run_test(size=(120, 40), notifications=True) as pilot:
        await loaded(pilot)
        node = harness.app if owner == "app" else harness.app.screen
        with caplog.at_level(logging.ERROR, logger="layers_tui"):
            worker = node.run_worker(boom(), group="probe", exit_on_error=False)
            await until_finished(pilot, worker)
        [toast] = error_toasts(harness.app)
        assert toast.startswith("Unexpected error in the probe task: RuntimeError: surprise")
        assert "\n" not in toast and "\x1b" not in toast
        assert "[bold]" in toast  # literal text, never markup
        assert "s" * 32 not in toast and "lp_test_LEAK0000000000000001_…" in toast
        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert "Traceback" in logged and "in boom" in logged and "s" * 32 not in logged
        assert harness.app.is_running  # the app carries on


async def until_finished(pilot, worker) -> None:
    """Pause until the worker has failed and its state change was handled (never a sleep;
    `wait_for_complete` would re-raise the worker's error in the test)."""
    for _ in range(20):
        await pilot.pause()
        if worker.is_finished and error_toasts(pilot.app):
            return


async def test_a_crash_in_the_identify_worker_is_shown(monkeypatch):
    async def broken(self):
        raise KeyError("tier")

    monkeypatch.setattr(LayersClient, "whoami", broken)
    harness = build()
    async with harness.app.run_test(size=(120, 40), notifications=True) as pilot:
        for _ in range(20):
            await pilot.pause()
        assert any("KeyError: 'tier'" in toast for toast in error_toasts(harness.app))

"""What every screen of ours shares."""

from __future__ import annotations

from textual.worker import Worker


class ShowsHelp:
    """`?` on a screen of ours: Help for that screen (its keys, from its bindings)."""

    def action_help(self) -> None:
        self.app.show_help(self)  # type: ignore[attr-defined]


class ReportsWorkerErrors:
    """Hands its workers' state changes to the app, which reports every failure in one place
    (`Worker.StateChanged` does not bubble, so without this a screen's failed worker would
    vanish silently)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report = getattr(self.app, "worker_state_changed", None)  # type: ignore[attr-defined]
        if report is not None:
            report(event)

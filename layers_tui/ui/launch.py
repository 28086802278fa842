"""Running the dashboard from the command line."""

from __future__ import annotations

import sys
from typing import Any

from layers_tui.config import Settings


def launch(settings: Settings, initial: dict[str, Any]) -> int:
    """Run the dashboard; print still-pending links on exit so they outlive the alt screen."""
    from layers_tui import paths
    from layers_tui.clock import DemoClock
    from layers_tui.logs import setup_logging

    from .app import LayersApp

    setup_logging(paths.log_dir())
    if settings.demo:
        app = LayersApp(settings, initial=initial, clock=DemoClock())
    else:
        app = LayersApp(settings, initial=initial)
    app.run()
    engine = getattr(app, "engine", None)
    if engine is not None:
        from layers_tui.flows.describe import exit_line

        for flow in engine.pending():
            # In the project's zone, named, as the flow screen showed it.
            print(exit_line(flow), file=sys.stderr)  # noqa: T201 - must outlive the alt screen
    return app.return_code or 0

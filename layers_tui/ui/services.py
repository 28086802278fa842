"""What the app offers every screen: failures reported in one place, read-only refusals,
the clipboard, and a crash report that never shows local variables."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.segment import Segments
from textual import work
from textual.worker import Worker, WorkerState

from layers_tui.api import ApiError
from layers_tui.probes import run_command

if TYPE_CHECKING:
    from textual.screen import Screen

    from .app import LayersApp

log = logging.getLogger("layers_tui.ui")


class AppServices:
    """Mixed into `LayersApp`."""

    # Runs `tmux show ...` for the clipboard advice; tests put a fake here.
    command_runner: Callable[[Sequence[str]], str | None] = staticmethod(run_command)
    tmux_advice_given: bool = False

    # -- failures nobody else caught ---------------------------------------------------------------
    def on_worker_state_changed(self: LayersApp, event: Worker.StateChanged) -> None:
        self.worker_state_changed(event)

    def worker_state_changed(self: LayersApp, event: Worker.StateChanged) -> None:
        """Every worker's failure, the app's and every screen's, reaches the user: workers
        run with `exit_on_error=False`, so anything they did not catch would vanish."""
        if event.state is not WorkerState.ERROR or event.worker.error is None:
            return
        import traceback

        from layers_tui.logs import redact
        from layers_tui.text import safe

        error = event.worker.error
        where = event.worker.group or event.worker.name or "background"
        log.error("worker %s failed: %s", where, redact("".join(traceback.format_exception(error))))
        summary = safe(redact(f"{type(error).__name__}: {error}"), 300)
        self.notify(
            f"Unexpected error in the {where} task: {summary} (details in the log file).",
            title="Error",
            severity="error",
            markup=False,
            timeout=15,
        )

    # -- a rejected key ------------------------------------------------------------------------
    key_rejection_reported: bool = False

    @work(group="identify", exit_on_error=False)
    async def identify(self: LayersApp) -> None:
        """Who the key belongs to (whoami), for every screen's status line."""
        try:
            self.whoami = await self.session.identify()
        except ApiError as error:
            self.identity_error = error
            if error.code in ("UNAUTHENTICATED", "INVALID_API_KEY"):
                self.report_key_rejected()  # where the key came from, and `doctor`
            return
        self.identity_error = None

    def tell_store_problems(self: LayersApp) -> None:
        """What opening the local store ran into (moved aside, read-only, migrated)."""
        session = self.session
        if session.store_problem:
            self.store_problem = session.store_problem
            self.notify(
                session.store_problem, title="Local store", severity="warning", markup=False
            )
        for note in session.notes:
            self.notify(note, title="Local store", severity="warning", markup=False, timeout=15)

    def action_journal(self: LayersApp) -> None:
        """The operator journal (`J` on the dashboard, Journal in the command palette)."""
        from .screens.journal import JournalScreen

        if not isinstance(self.screen, JournalScreen):
            self.push_screen(JournalScreen())

    def key_rejected_text(self: LayersApp) -> str:
        """What to say when the API answers 401: which key (where it came from, as the CLI
        knew it) and where to look next. Retrying cannot help, so it never says it will."""
        origin = self.initial.get("key_origin") or "the configuration"
        return (
            f"The API key from {origin} was rejected (401). Run `layers-tui doctor` to see "
            "which key is used (masked) and where each setting comes from; fix it and start "
            "again."
        )

    def report_key_rejected(self: LayersApp) -> None:
        """One toast per run, however many requests the 401 answered."""
        if not self.key_rejection_reported:
            self.key_rejection_reported = True
            self.notify(
                self.key_rejected_text(),
                title="Key rejected",
                severity="error",
                markup=False,
                timeout=30,
            )

    # -- helpers for screens ---------------------------------------------------------------------
    def action_help(self: LayersApp) -> None:
        """`?` where a screen has no binding of its own: Help for the screen on top."""
        self.show_help(self.screen)

    def show_help(self: LayersApp, origin: Screen) -> None:
        from .screens.help import HelpScreen

        if not isinstance(origin, HelpScreen):
            self.push_screen(HelpScreen(origin))

    def refuse_if_read_only(self: LayersApp, what: str) -> bool:
        """True, and one toast saying so, when the app runs read-only."""
        if self.settings.read_only:
            self.notify(
                f"{what} is disabled: layers-tui runs read-only (--read-only or "
                "read_only in config).",
                title="Read-only",
                severity="warning",
                markup=False,
            )
        return self.settings.read_only

    def copy_text(self: LayersApp, text: str, what: str) -> None:
        """Copy (OSC 52) and say so in one short toast: "Copied link". Inside tmux with
        set-clipboard off the same toast carries the fix, once per run."""
        from layers_tui.probes import TMUX_CLIPBOARD_ADVICE, tmux_clipboard_off

        self.copy_to_clipboard(text)
        message = f"Copied {what}"
        if not self.tmux_advice_given:
            self.tmux_advice_given = True  # asked once: tmux's answer holds for the run
            if tmux_clipboard_off(self.env, self.command_runner):
                message += f". {TMUX_CLIPBOARD_ADVICE}"
        self.notify(message, markup=False, timeout=8 if "tmux" in message else 3)

    def deliver_screenshot(
        self: LayersApp,
        filename: str | None = None,
        path: str | None = None,
        time_format: str | None = None,
    ) -> str | None:
        """The palette's Screenshot: an SVG in the current directory (else the state dir),
        and a toast saying where. Textual's own saves to ~/Downloads and fails when there
        is none."""
        from pathlib import Path

        from layers_tui import paths

        name = filename or f"layers-tui-{self.clock.now():%Y%m%d-%H%M%S}.svg"
        svg = self.export_screenshot()
        problem = ""
        for folder in (Path(path) if path else Path.cwd(), paths.state_dir()):
            target = folder / name
            try:
                folder.mkdir(parents=True, exist_ok=True)
                target.write_text(svg, encoding="utf-8")
            except OSError as error:
                problem = f"{error.strerror or error} ({folder})"
                continue
            self.notify(f"Screenshot saved to {target}", title="Screenshot", markup=False)
            return str(target)
        self.notify(
            f"Screenshot not saved: {problem}", title="Screenshot", severity="error", markup=False
        )
        return None

    def _fatal_error(self: LayersApp) -> None:
        """Crash report without local variables: Textual's default prints locals, which
        could hold the API key. The full (redacted) traceback goes to the log file."""
        import traceback

        import rich
        from rich.traceback import Traceback

        from layers_tui.logs import redact

        log.error("crash: %s", redact(traceback.format_exc()))
        self.bell()
        report = Traceback(show_locals=False, width=None, suppress=[rich], max_frames=8)
        self._exit_renderables.append(Segments(self.console.render(report, self.console.options)))
        self._close_messages_no_wait()

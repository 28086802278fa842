"""`layers-tui sync` and `layers-tui watch`: the store kept fresh without a screen.

`sync` makes one full pass within the request budget (progress on stderr, for cron);
`watch` keeps the store fresh for as long as it runs and logs one line per status change.
Both read and write the same store the dashboard and `check` read. No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TextIO

from layers_tui.alerts import Alert, AlertEngine, EventContext
from layers_tui.api import ApiError, format_error
from layers_tui.domain.status import PLATFORM_LABELS, Severity, span
from layers_tui.notify import Notifier, dry_run_line
from layers_tui.session.inventory import (
    InventoryEvent,
    ListingFailed,
    Progress,
    ProgressUpdated,
    ProjectUpdated,
    StatusChanged,
)
from layers_tui.session.session import Session
from layers_tui.session.store import Change
from layers_tui.text import safe

log = logging.getLogger("layers_tui.watch")
PROGRESS_EVERY = 2.0  # seconds between progress lines when stderr is not a terminal


def describe_duration(seconds: float | None) -> str:
    return "?" if seconds is None else span(max(0.0, seconds))


def progress_line(progress: Progress) -> str:
    return progress.describe()


def change_line(change: Change, when: datetime, project_name: str = "") -> str:
    """One log line for one status change, API text made safe."""
    platform = PLATFORM_LABELS.get(change.platform) or safe(change.platform, 20)
    where = f"{safe(project_name or change.project_id, 60)} / {platform}"
    who = safe(change.name or change.account_key, 60)
    old = safe(change.old_status, 30) if change.old_status else "(new)"
    new = safe(change.new_status, 30) if change.new_status else "(gone)"
    severity = (
        Severity(change.new_severity).name.lower() if change.new_severity is not None else "gone"
    )
    stamp = when.isoformat(timespec="seconds").replace("+00:00", "Z")
    return f"{stamp} {where} {who} [{safe(change.account_key, 60)}]: {old} -> {new} ({severity})"


class ProgressPrinter:
    """Progress on stderr: rewritten in place on a terminal, a line every few seconds
    otherwise (cron mail stays short)."""

    def __init__(self, stream: TextIO, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.monotonic = monotonic
        self._last = -1e9

    def __call__(self, progress: Progress, final: bool = False) -> None:
        now = self.monotonic()
        if not final and not self.tty and now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        line = progress_line(progress)
        if self.tty:
            self.stream.write("\r\x1b[2K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


async def run_sync(session: Session, err: TextIO = sys.stderr) -> int:
    """One full pass. Exit 0 when every project refreshed, 1 when some failed, 2 when the
    API could not be used at all."""
    started = time.monotonic()
    session.cached_tier()
    try:
        await session.identify()
    except ApiError as error:
        err.write(f"layers-tui sync: {format_error(error)}\n")
        return 2
    inventory = session.inventory
    holder = session.store.lease_holder(time.time())
    if holder is not None and not inventory.take_lease():
        err.write(
            "layers-tui sync: another layers-tui (watch or a dashboard) is refreshing this key "
            "right now and keeps the store fresh; nothing to do.\n"
        )
        return 0
    if not inventory.take_lease():
        err.write("layers-tui sync: could not take the refresh lease; try again.\n")
        return 2
    printer = ProgressPrinter(err)
    inventory.listeners.append(
        lambda event: printer(event.progress) if isinstance(event, ProgressUpdated) else None
    )
    keeper = asyncio.ensure_future(inventory.keep_lease())
    try:
        result = await inventory.refresh(relist=True)
    finally:
        keeper.cancel()
        inventory.release()
    printer(inventory.progress, final=True)
    if result.listing_error is not None and not result.refreshed:
        err.write(f"layers-tui sync: {format_error(result.listing_error)}\n")
        return 2
    elapsed = time.monotonic() - started
    err.write(
        f"synced {len(result.refreshed)} project(s), {len(result.failed)} failed, in "
        f"{describe_duration(elapsed)}\n"
    )
    return 1 if result.failed else 0


FATAL_CODES = frozenset({"UNAUTHENTICATED", "INVALID_API_KEY", "KILL_SWITCH", "FORBIDDEN_SCOPE"})


def fatal(error: ApiError) -> bool:
    """An error no retry can fix (the key is rejected, disabled or lacks the scope)."""
    return error.code in FATAL_CODES or error.status in (401, 403)


class AlertRunner:
    """watch's alerts: the engine follows the status history, due alerts go to the targets
    (or, with `dry_run`, are printed on `out` and nothing is recorded). A delivery runs
    beside the refresh loop and never ends watch; a failure is one line on `err`."""

    def __init__(
        self,
        session: Session,
        notifier: Notifier,
        out: TextIO,
        err: TextIO,
        dry_run: bool = False,
    ) -> None:
        import socket

        self.session = session
        self.notifier = notifier
        self.out = out
        self.err = err
        self.dry_run = dry_run
        organization = session.identity.organization_name if session.identity else None
        self.engine = AlertEngine(
            session.store,
            notifier.policies,
            session.clock,
            EventContext(session.profile, socket.gethostname(), session.key_id, organization),
            session.inventory.thresholds,
            record=not dry_run,
        )
        self.engine.start()
        self.wake = asyncio.Event()
        self.deliveries: set[asyncio.Task] = set()
        # One delivery at a time per target, in order: a burst never forks a crowd.
        self.turns = {name: asyncio.Lock() for name in notifier.targets}

    def observe(self, changes: Sequence[Change]) -> None:
        self.engine.observe(changes)
        self.wake.set()

    def dispatch(self) -> None:
        """Decide now; print (dry run) or start the deliveries of what is due."""
        for alert in self.engine.poll():
            if self.dry_run:
                self.out.write(dry_run_line(alert) + "\n")
                self.out.flush()
                continue
            task = asyncio.ensure_future(self._deliver(alert))
            self.deliveries.add(task)
            task.add_done_callback(self.deliveries.discard)

    async def _deliver(self, alert: Alert) -> None:
        async with self.turns[alert.target]:
            problem = await self.notifier.deliver(alert)
        if problem is not None:
            self.err.write(f"layers-tui watch: alert to {safe(alert.target, 60)}: {problem}\n")
            self.err.flush()

    async def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                self.dispatch()
            except Exception as error:  # a bug here must not stop the store being kept fresh
                log.exception("alerts failed")
                self.err.write(f"layers-tui watch: alerts failed: {type(error).__name__}\n")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.05, self.engine.next_poll_in())):
                    await self.wake.wait()

    async def aclose(self, grace: float = 5.0) -> None:
        """Let deliveries under way finish (bounded), then close the HTTP client."""
        if self.deliveries:
            await asyncio.wait(set(self.deliveries), timeout=grace)
        await self.notifier.aclose()


async def run_watch(
    session: Session,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    notifier: Notifier | None = None,
    dry_run: bool = False,
) -> int:
    """Keep the store fresh until interrupted (SIGINT, SIGTERM: exit 0); one line per status
    change on `out`. Accounts seen for the first time (a project's first load) are not
    changes and are not logged. A key the API rejects ends it at once (exit 2); an API that
    cannot be reached is retried with each refresh. With a `notifier`, alerts go to its
    targets (printed instead with `dry_run`)."""
    stop = asyncio.Event()
    alerts: AlertRunner | None = None
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    loaded = {r.id for r in session.store.projects() if r.refreshed_at is not None}

    def on_event(event: InventoryEvent) -> None:
        if isinstance(event, StatusChanged):
            if alerts is not None:
                alerts.observe(event.changes)
            names = {project.id: project.name for project in session.inventory.projects}
            for change in event.changes:
                if change.project_id not in loaded:
                    continue  # first load: every account is "new", none changed
                name = names.get(change.project_id, "")
                out.write(change_line(change, session.clock.now(), name) + "\n")
            out.flush()
        elif isinstance(event, ProjectUpdated):
            if event.snapshot.fetched_at is not None:
                loaded.add(event.snapshot.project.id)
        elif isinstance(event, ListingFailed):
            err.write(f"layers-tui watch: project list failed: {format_error(event.error)}\n")
            err.flush()

    try:
        session.inventory.listeners.append(on_event)
        session.cached_tier()
        try:
            whoami = await session.identify()
            err.write(
                f"layers-tui watch: {safe(whoami.organization_name, 80)} "
                f"({safe(whoami.rate_limit_tier, 20)} tier); store {session.store.path}\n"
            )
        except ApiError as error:
            if fatal(error):
                err.write(f"layers-tui watch: {format_error(error)}\n")
                return 2
            err.write(f"layers-tui watch: {format_error(error)}; retrying with each refresh\n")
        err.flush()
        tasks = {asyncio.ensure_future(session.inventory.run())}
        if notifier is not None:
            alerts = AlertRunner(session, notifier, out, err, dry_run)
            tasks.add(asyncio.ensure_future(alerts.run()))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return 0
    finally:
        if alerts is not None:
            await alerts.aclose()
        for sig in installed:
            loop.remove_signal_handler(sig)

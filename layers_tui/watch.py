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
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from layers_tui.api import ApiError, format_error
from layers_tui.domain.status import PLATFORM_LABELS, Severity, span
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


async def run_watch(session: Session, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Keep the store fresh until interrupted (SIGINT, SIGTERM: exit 0); one line per status
    change on `out`. Accounts seen for the first time (a project's first load) are not
    changes and are not logged. A key the API rejects ends it at once (exit 2); an API that
    cannot be reached is retried with each refresh."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    loaded = {r.id for r in session.store.projects() if r.refreshed_at is not None}

    def on_event(event: InventoryEvent) -> None:
        if isinstance(event, StatusChanged):
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
        runner = asyncio.ensure_future(session.inventory.run())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        runner.cancel()
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        return 0
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

"""`layers-tui sync` and `layers-tui watch`: the store kept fresh without a screen.

`sync` makes one full pass within the request budget (progress on stderr, for cron);
`watch` keeps the store fresh for as long as it runs and logs one line per status change
(stdout, as `history` prints it), and on stderr one line when its role changes (refreshing,
following another process, taking over) and one per full pass (docs/monitoring.md).
Both read and write the same store the dashboard and `check` read. No Textual here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import TextIO

from layers_tui.alerts import Alert, AlertEngine, EventContext
from layers_tui.api import ApiError, format_error
from layers_tui.domain.status import span
from layers_tui.history_cli import change_text
from layers_tui.logs import redact
from layers_tui.notify import Notifier, dry_run_line
from layers_tui.session.inventory import (
    FOLLOW_SECONDS,
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
LONG_PASS = 60.0  # watch says when a pass starts only when it is expected to take this long


def describe_duration(seconds: float | None) -> str:
    return "?" if seconds is None else span(max(0.0, seconds))


def progress_line(progress: Progress) -> str:
    return progress.describe()


def change_line(change: Change, project_name: str = "") -> str:
    """One log line for one status change, exactly as `layers-tui history` prints it (the
    time is when the change was recorded, by whichever process refreshed)."""
    return change_text(change, project_name or None)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def program_name(argv: Sequence[str]) -> str:
    """How a process's command line reads in watch's lines: `layers-tui watch` for
    `python -m layers_tui watch` or `…/bin/layers-tui watch`, else the program's file name
    and its arguments; any API key in it redacted, control characters made visible."""
    args = [arg for arg in argv if arg]
    if not args:
        return "?"
    rest = args[1:]
    name = PurePath(args[0]).name
    if "-m" in rest and rest.index("-m") + 1 < len(rest):
        module = rest.index("-m") + 1
        if rest[module] == "layers_tui":
            name, rest = "layers-tui", rest[module + 1 :]
    return safe(redact(" ".join([name, *rest])), 60)


def process_program(pid: int) -> str | None:
    """The program a process on this machine runs (`layers-tui watch`), from
    /proc/PID/cmdline; None where that cannot be read (no /proc, the process is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    argv = raw.decode(errors="replace").split("\0")
    return program_name(argv) if any(argv) else None


def describe_holder(host: str, pid: int, program: str | None) -> str:
    """`pid 4242 (layers-tui watch)`, `pid 4242 on other-host` for another machine."""
    where = "" if host == socket.gethostname() else f" on {safe(host, 40)}"
    return f"pid {pid}{where}" + (f" ({program})" if program else "")


def pass_line(progress: Progress, elapsed: float | None, next_in: float) -> str:
    """The one line for a finished full pass: `pass done: 1990 projects refreshed, 10
    failed (12 still fresh), in 21 min; next in 1 min`, or `pass stopped after …` when it
    ended before every due project was done (watch was stopped)."""
    refreshed = max(0, progress.done - progress.failed)
    counts = f"{plural(refreshed, 'project')} refreshed, {progress.failed} failed"
    if progress.fresh:
        counts += f" ({progress.fresh} still fresh)"
    took = f"in {describe_duration(elapsed if elapsed is not None else 0.0)}"
    if progress.done < progress.total:
        return f"pass stopped after {progress.done} of {progress.total} due: {counts}, {took}"
    return f"pass done: {counts}, {took}; next in {describe_duration(next_in)}"


def pass_start_line(progress: Progress) -> str:
    """`pass started: 2000 projects due, about 22 min`, for a pass long enough that its
    end is far off (a large organisation at the standard tier)."""
    line = f"pass started: {plural(progress.total, 'project')} due"
    if progress.fresh:
        line += f" ({progress.fresh} still fresh)"
    return line + f", about {describe_duration(progress.eta_seconds)}"


class RoleReporter:
    """watch's lines about its role (one when it changes) and its passes (one per finished
    full pass), on `err` after the `layers-tui watch: ` prefix.

    The role is read from what the session exposes: `inventory.is_holder` and the store's
    lease owner (host, pid), polled by `run` every FOLLOW_SECONDS and looked at again when a
    pass starts. The program a holder on this machine runs comes from `program_of` (its
    /proc command line by default)."""

    def __init__(
        self,
        session: Session,
        err: TextIO,
        *,
        wall: Callable[[], float] = time.time,
        program_of: Callable[[int], str | None] = process_program,
    ) -> None:
        self.session = session
        self.err = err
        self.wall = wall
        self.program_of = program_of
        self.refreshing: bool | None = None  # None until the role is known
        self.followed: tuple[str, int] | None = None  # (host, pid) of the holder we follow
        self.followed_as = ""  # how the line named it: `pid 4242 (layers-tui)`
        self.pass_started: float | None = None

    def _say(self, line: str) -> None:
        self.err.write(f"layers-tui watch: {line}\n")
        self.err.flush()

    def observe(self) -> None:
        """Say so when the role changed since the last look: refreshing, following another
        process (or a different one), or taking over from the one followed. A store that
        cannot be read now is logged, never raised (this runs inside the refresh loop's
        listeners)."""
        try:
            self._observe()
        except Exception as error:  # sqlite3: locked, disk gone; never fatal here
            log.warning("lease look-up failed: %s", type(error).__name__)

    def _observe(self) -> None:
        if self.session.inventory.is_holder:
            if self.refreshing:
                return
            if self.followed is not None:
                self._say(f"took over refreshing from {self.followed_as}")
            else:
                self._say("refreshing (this process holds the refresh lease)")
            self.refreshing, self.followed = True, None
            return
        owner = self.session.store.lease_owner(self.wall())
        if owner is None or (self.refreshing is False and owner == self.followed):
            return  # nobody holds it this instant (a handover under way), or no news
        host, pid = owner
        program = self.program_of(pid) if host == socket.gethostname() else None
        self.followed_as = describe_holder(host, pid, program)
        self.refreshing, self.followed = False, owner
        self._say(f"following {self.followed_as} which refreshes")

    def on_progress(self, progress: Progress) -> None:
        """A full pass's progress (ours: only the holder makes passes)."""
        if progress.running:
            if self.pass_started is None:
                self.observe()  # a pass starts: say we refresh before anything about it
                self.pass_started = self.session.clock.monotonic()
                if (progress.eta_seconds or 0.0) >= LONG_PASS:
                    self._say(pass_start_line(progress))
            return
        elapsed = (
            None
            if self.pass_started is None
            else self.session.clock.monotonic() - self.pass_started
        )
        self.pass_started = None
        self.observe()
        self._say(pass_line(progress, elapsed, self.session.inventory.next_pass_in()))

    async def run(self) -> None:
        while True:
            self.observe()
            await self.session.clock.sleep(FOLLOW_SECONDS)


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
    change on `out`; on `err`, a line when the role changes and one per full pass. Accounts
    seen for the first time (a project's first load) are not changes and are not logged. A
    key the API rejects ends it at once (exit 2); an API that cannot be reached is retried
    with each refresh. With a `notifier`, alerts go to its targets (printed instead with
    `dry_run`)."""
    stop = asyncio.Event()
    alerts: AlertRunner | None = None
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    loaded = {r.id for r in session.store.projects() if r.refreshed_at is not None}
    role = RoleReporter(session, err)

    def on_event(event: InventoryEvent) -> None:
        if isinstance(event, StatusChanged):
            if alerts is not None:
                alerts.observe(event.changes)
            names = {project.id: project.name for project in session.inventory.projects}
            for change in event.changes:
                if change.project_id not in loaded:
                    continue  # first load: every account is "new", none changed
                out.write(change_line(change, names.get(change.project_id, "")) + "\n")
            out.flush()
        elif isinstance(event, ProgressUpdated):
            role.on_progress(event.progress)
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
        # The refresh loop first: its first step takes the lease (or not) before the role
        # is first looked at.
        tasks = {asyncio.ensure_future(session.inventory.run())}
        tasks.add(asyncio.ensure_future(role.run()))
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

"""The app's part in keeping the inventory fresh: the session's inventory does the work,
the app runs its passes as workers (one at a time) and turns its events into messages for
the dashboard, and nobody else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.timer import Timer

from layers_tui.domain.status import PLATFORM_LABELS, Severity
from layers_tui.session.inventory import (
    FOLLOW_SECONDS,
    HolderProgress,
    InventoryEvent,
    ListingFailed,
    ProgressUpdated,
    ProjectsUpdated,
    ProjectUpdated,
    StatusChanged,
)
from layers_tui.session.store import Change
from layers_tui.text import safe

from .desktop_notify import DesktopNotifier, Transition
from .messages import (
    LoadedBatch,
    ProjectsListed,
    ProjectsLoaded,
    RefreshFinished,
    RefreshProgress,
)

if TYPE_CHECKING:
    from .app import LayersApp

# A pass's desktop notification goes out when the pass ends; during a long pass (thousands
# of projects at the request budget) at most this long after its first transition.
DESKTOP_COALESCE_SECONDS = 30.0


class RefreshDriver:
    """Mixed into `LayersApp`."""

    _next_pass: Timer | None = None
    _desktop: DesktopNotifier | None = None
    _desktop_timer: Timer | None = None
    _loaded: LoadedBatch | None = None  # open while its ProjectsLoaded waits in the queue
    _loaded_for: object = None  # the dashboard it was posted to
    _progress: RefreshProgress | None = None  # likewise for the pass's progress
    _progress_for: object = None

    def inventory_event(self: LayersApp, event: InventoryEvent) -> None:
        """The inventory's news, for the dashboard only (whatever screen is on top)."""
        target = self.dashboard
        if target is None:
            return
        if isinstance(event, ProjectUpdated):
            batch = self._loaded
            if batch is None or batch.taken or self._loaded_for is not target:
                # One message per burst: later snapshots join this batch until it is taken.
                batch, self._loaded_for = LoadedBatch(), target
                self._loaded = batch
                batch.add(event.snapshot)
                target.post_message(ProjectsLoaded(batch))
            else:
                batch.add(event.snapshot)
        elif isinstance(event, ProjectsUpdated):
            self.post_to_dashboard(ProjectsListed(list(event.projects)))
        elif isinstance(event, ProgressUpdated | HolderProgress):
            # The holder's pass (when another process refreshes) shows as our own would.
            # Not after the batch (progress is the status line's only): the message still
            # waiting takes the latest progress, else one is posted.
            waiting = self._progress
            if waiting is not None and not waiting.taken and self._progress_for is target:
                waiting.progress = event.progress
            else:
                self._progress, self._progress_for = RefreshProgress(event.progress), target
                target.post_message(self._progress)
        elif isinstance(event, StatusChanged):
            self.announce_changes(event.changes)
        elif isinstance(event, ListingFailed):
            pass  # told once, with the pass's outcome (RefreshFinished)

    def post_to_dashboard(self: LayersApp, message: Message) -> None:
        """Post after every snapshot sent so far: the open batch is closed, so a snapshot
        that comes after `message` is handled after it too."""
        self._loaded = None
        if self.dashboard is not None:
            self.dashboard.post_message(message)

    def announce_changes(self: LayersApp, changes: Sequence[Change]) -> None:
        """A toast when an account gets worse or recovers (not for first sightings, nor for
        changes that keep its severity, nor for a recovery a flow has just announced): a few
        by name, a burst as one line."""
        worse = [c for c in changes if _moved(c) > 0]
        better = [c for c in changes if _moved(c) < 0]
        if not worse and not better:
            return
        self.tell_desktop(
            [Transition(True, _describe(c)) for c in worse]
            + [Transition(False, _describe(c)) for c in better]
        )
        # A recovery a connect/reconnect flow just brought about was announced by the flow.
        better = [c for c in better if not self.told_by_flow(c)]
        if len(worse) + len(better) > 3:
            parts = []
            if worse:
                parts.append(f"{len(worse)} account(s) got worse")
            if better:
                parts.append(f"{len(better)} recovered")
            self.notify(
                ", ".join(parts) + ".", title="Status changes", severity="warning", markup=False
            )
            return
        for change in worse + better:
            self.notify(
                _describe(change),
                title="Got worse" if _moved(change) > 0 else "Recovered",
                severity="warning" if _moved(change) > 0 else "information",
                markup=False,
            )

    @property
    def desktop_notifier(self: LayersApp) -> DesktopNotifier:
        """The desktop side of the announcements, made on first use from the settings."""
        if self._desktop is None:
            self._desktop = DesktopNotifier.for_app(self, self.settings.desktop_notify, self.env)
        return self._desktop

    def tell_desktop(self: LayersApp, transitions: Sequence[Transition]) -> None:
        """Collect a pass's transitions for one desktop notification (see flush_desktop)."""
        notifier = self.desktop_notifier
        if not notifier.enabled:
            return
        notifier.add(transitions)
        if self._desktop_timer is None:
            self._desktop_timer = self.set_timer(DESKTOP_COALESCE_SECONDS, self.flush_desktop)

    def flush_desktop(self: LayersApp) -> None:
        """Send what the pass collected as one notification (or bell); nothing if nothing."""
        if self._desktop_timer is not None:
            self._desktop_timer.stop()
            self._desktop_timer = None
        if self._desktop is not None:
            self._desktop.flush()

    def start_refreshing(self: LayersApp) -> None:
        inventory = self.session.inventory
        inventory.flow_projects = lambda: {flow.project_id for flow in self.engine.pending()}
        self.set_interval(FOLLOW_SECONDS, self.follow_store)
        self.refresh_pass()

    @work(group="refresh", exit_on_error=False)
    async def refresh_pass(
        self: LayersApp, project_ids: Sequence[str] | None = None, *, force: bool = False
    ) -> None:
        """A pass over every project due (or over `project_ids`). The inventory never runs
        two full passes at once; a single project's refresh never ends a full one. Only the
        holder of the store's lease refreshes; otherwise the holder is asked to."""
        inventory = self.session.inventory
        if not inventory.take_lease():
            inventory.request_refresh(project_ids)
            return
        if project_ids is not None:
            try:
                result = await inventory.refresh(list(project_ids))
            finally:
                self.flush_desktop()
            self.post_to_dashboard(RefreshFinished(result, full=False))
            return
        if inventory.pass_running:
            return  # that pass reports when it ends; never two at once
        try:
            # Data younger than a pass takes at this budget is left alone: a restart does
            # not re-read what the last pass (or another process) just fetched.
            interval = max(self.settings.refresh_interval, inventory.next_pass_in())
            result = await inventory.refresh(
                max_age=None if force else interval * 0.9, relist=True if force else None
            )
            self.post_to_dashboard(RefreshFinished(result, full=True))
        finally:
            self.flush_desktop()
            self._schedule_next_pass()

    def _schedule_next_pass(self: LayersApp) -> None:
        if self._next_pass is not None:
            self._next_pass.stop()
        self._next_pass = self.set_timer(self.session.inventory.next_pass_in(), self.refresh_pass)

    def _lease_owner(self: LayersApp) -> str | None:
        import socket
        import time

        owner = self.session.store.lease_owner(time.time())
        if owner is None:
            return None
        host, pid = owner
        where = "" if host == socket.gethostname() else f" on {safe(host, 40)}"
        return f"layers-tui pid {pid}{where}"

    def follow_store(self: LayersApp) -> None:
        """Once a second: keep the lease, take refreshes other processes asked for, or (not
        holding it) show what the holder wrote; take over when the holder is gone."""
        inventory = self.session.inventory
        was_holder = inventory.is_holder
        try:
            holder = inventory.take_lease()
            if holder and not was_holder:
                self.refresh_pass()  # the previous holder went away
            elif holder:
                asked = self.session.store.take_refresh_requests()
                if asked:
                    self.refresh_pass(list(dict.fromkeys(asked)))
            else:
                inventory.follow()  # what the holder found: one notification for it
                self.flush_desktop()
            self.refreshed_by = None if holder else self._lease_owner()
        except Exception as error:  # sqlite3: locked, disk gone; never fatal here
            self.log.warning(f"store follow failed: {type(error).__name__}")


def _describe(change: Change) -> str:
    """The toast's line, `name (Platform): old → new`, every API string made safe."""
    label = PLATFORM_LABELS.get(change.platform) or safe(change.platform, 20)
    what = f"{safe(change.name, 40)} ({label}): {safe(change.old_status, 30)} → "
    return what + safe(change.new_status, 30)


def _moved(change: Change) -> int:
    """+1 when the account got worse (to a warning or critical), -1 when it recovered from
    one to OK, 0 otherwise (a first sighting, the same severity, a disconnect)."""
    old, new = change.old_severity, change.new_severity
    if old is None or new is None or old == new:
        return 0
    if new > old and new >= Severity.WARNING:
        return 1
    if new == Severity.OK and old >= Severity.WARNING:
        return -1  # a disconnect is not a recovery
    return 0

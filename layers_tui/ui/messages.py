"""Messages shared across screens. Named for what happened; requests end in `Requested`."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from layers_tui.api import ApiError
from layers_tui.flows.model import PendingFlow
from layers_tui.inventory import ProjectSnapshot
from layers_tui.models import ContentHealth, Project, RevokeResult
from layers_tui.session.inventory import PassResult, Progress


@dataclass
class ProjectsListed(Message, bubble=False):
    projects: list[Project]


class LoadedBatch:
    """Projects' new snapshots, gathered while one `ProjectsLoaded` waits in the queue: a
    burst (a pass where little changed, what another process wrote) costs the dashboard
    one message, not one per project (2,500 messages cost ~30 % of a full rebuild). A
    project's later snapshot replaces its earlier one. Once taken, the batch is closed:
    the next snapshot opens a new batch and message."""

    def __init__(self) -> None:
        self._snapshots: dict[str, ProjectSnapshot] = {}
        self.taken = False

    def add(self, snapshot: ProjectSnapshot) -> None:
        self._snapshots[snapshot.project.id] = snapshot

    def take(self) -> list[ProjectSnapshot]:
        """The snapshots, in the order their projects first arrived; closes the batch."""
        self.taken = True
        snapshots, self._snapshots = list(self._snapshots.values()), {}
        return snapshots

    def __len__(self) -> int:
        return len(self._snapshots)


@dataclass
class ProjectsLoaded(Message, bubble=False):
    """New snapshots of one or more projects (see `LoadedBatch`)."""

    batch: LoadedBatch

    @classmethod
    def of(cls, *snapshots: ProjectSnapshot) -> ProjectsLoaded:
        """A message with these snapshots (tests, benches, a single project)."""
        batch = LoadedBatch()
        for snapshot in snapshots:
            batch.add(snapshot)
        return cls(batch)


@dataclass
class RefreshProgress(Message, bubble=False):
    """Where the refresh pass is (only the latest matters)."""

    progress: Progress
    # Set when handled; until then a newer progress is written into this message instead of
    # posting another (a pass reports after every project: 2,500 posts at 2,500 projects).
    taken: bool = False

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RefreshProgress)


@dataclass
class RefreshFinished(Message, bubble=False):
    """A refresh pass ended (`full`: over every project due, else over a few). When the
    project list itself could not be fetched, `result.listing_error` says why and
    everything stays on screen, marked stale."""

    result: PassResult
    full: bool = True


@dataclass
class FlowChanged(Message, bubble=False):
    flow: PendingFlow

    def can_replace(self, message: Message) -> bool:
        """Only a flow's latest state matters: a queued older change of it is dropped."""
        return isinstance(message, FlowChanged) and message.flow.id == self.flow.id


@dataclass
class FlowsHalted(Message, bubble=False):
    error: ApiError


@dataclass
class AccountRevoked(Message, bubble=False):
    result: RevokeResult
    label: str
    project_id: str


@dataclass
class ActionFailed(Message, bubble=False):
    """A user action (revoke, mint) failed; `what` says which, in words."""

    what: str
    error: ApiError


@dataclass
class HealthLoaded(Message, bubble=False):
    health: ContentHealth


@dataclass
class HealthFailed(Message, bubble=False):
    error: ApiError


@dataclass
class FlowMinted(Message, bubble=False):
    flow: PendingFlow
    store_problem: str | None = None


@dataclass
class ConsentSent(Message, bubble=False):
    decision: str
    outcome: str

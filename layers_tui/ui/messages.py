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


@dataclass
class ProjectLoaded(Message, bubble=False):
    snapshot: ProjectSnapshot

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, ProjectLoaded)
            and message.snapshot.project.id == self.snapshot.project.id
        )


@dataclass
class RefreshProgress(Message, bubble=False):
    """Where the refresh pass is (only the latest matters)."""

    progress: Progress

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

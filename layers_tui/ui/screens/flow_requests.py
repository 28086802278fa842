"""What a flow screen is asked to do (connect, reconnect, resume) and a bulk run's tally."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from layers_tui.domain.status import AD_PLATFORMS, PLATFORM_LABELS, AccountRow
from layers_tui.flows.model import PendingFlow
from layers_tui.models import Project
from layers_tui.text import safe


@dataclass(frozen=True)
class FlowRequest:
    kind: str  # connect | reauth | ads
    project_id: str
    project_name: str
    platform: str
    timezone: str = "UTC"
    account_id: str | None = None
    account_label: str = ""
    flow_id: str | None = None  # resume an existing flow instead of minting

    @classmethod
    def connect(cls, project: Project, platform: str) -> FlowRequest:
        kind = "ads" if platform in AD_PLATFORMS else "connect"
        return cls(kind, project.id, project.name, platform, project.timezone)

    @classmethod
    def reauth(cls, row: AccountRow, timezone: str = "UTC") -> FlowRequest:
        kind = "ads" if row.kind == "ad" else "reauth"
        return cls(
            kind, row.project_id, row.project_name, row.platform, timezone, row.key, row.name
        )

    @classmethod
    def resume(cls, flow: PendingFlow) -> FlowRequest:
        return cls(
            flow.kind,
            flow.project_id,
            flow.project_name,
            flow.platform,
            flow.timezone,
            flow.social_account_id,
            flow.account_label,
            flow.id,
        )

    @property
    def title(self) -> str:
        verb = {"connect": "Connect", "reauth": "Reconnect", "ads": "Connect"}[self.kind]
        if self.kind == "ads" and self.account_id:
            verb = "Reconnect"
        what = PLATFORM_LABELS.get(self.platform, self.platform)
        label = f" · {safe(self.account_label, 40)}" if self.account_label else ""
        return f"{verb} {what}{label}"


@dataclass
class BulkTally:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """ "2 reconnected (a, b), 1 failed (c), 0 skipped": who, not only how many."""
        parts = []
        for what, names in (
            ("reconnected", self.done),
            ("failed", self.failed),
            ("skipped", self.skipped),
        ):
            who = f" ({', '.join(safe(name, 30) for name in names)})" if names else ""
            parts.append(f"{len(names)} {what}{who}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ScreenNote:
    """A message of the flow screen's own, shown on its note line until `until`."""

    text: str
    until: datetime


# -- the API out of reach ----------------------------------------------------------------------
# The client's message for these says what to check, and `domain.failures.hint_for` adds that
# the app retries "on its own": true of the refresh and of the poller, not of a mint, which
# runs once per key press. The flow screen says it once, in its own words, instead.
UNREACHABLE = {"CONNECTION_FAILED": "cannot be reached", "TIMEOUT": "did not answer in time"}


def mint_unreachable_text(error_code: str, host: str) -> str | None:
    """What happened, that nothing retries it, and what to do: for a mint that failed because
    the API is out of reach (None for any other failure)."""
    what = UNREACHABLE.get(error_code)
    if what is None:
        return None
    return (
        f"No link was minted: {safe(host, 80)} {what} ({error_code}). This is not retried "
        "by itself: check the base URL and your network, then press n to try again."
    )


def poll_unreachable_text(flow: PendingFlow, now: datetime, host: str) -> str | None:
    """For a waiting flow whose last polls could not reach the API: what happened, that the
    poller retries by itself and when, and what to do. None when the last poll got through."""
    if flow.terminal or not flow.failures:
        return None
    code = flow.last_result.partition(":")[0]
    what = UNREACHABLE.get(code)
    if what is None:
        return None
    polls = f"{flow.failures} poll{'' if flow.failures == 1 else 's'} in a row"
    when = "soon"
    if flow.next_poll_at is not None:
        when = f"in {max(0, int((flow.next_poll_at - now).total_seconds()))} s"
    return (
        f"{safe(host, 80)} {what} ({code}, {polls}). The poller will retry {when} by "
        "itself, until the link expires. If it keeps failing, check the base URL and your "
        "network."
    )

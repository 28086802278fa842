"""Status, severity and expiry wording for accounts: plain functions, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from functools import cached_property

from layers_tui.models import AdAccount, Project, SocialAccount
from layers_tui.text import safe

SOCIAL_STATUSES = ("connected", "reauth_required", "disconnected")
TOKEN_STATUSES = ("valid", "expired", "revoked", "invalid")
PLATFORM_LABELS = {
    "tiktok": "TikTok",
    "instagram": "Instagram",
    "meta_ads": "Meta Ads",
    "tiktok_ads": "TikTok Ads",
    "apple_ads": "Apple Ads",
}
SOCIAL_PLATFORMS = ("tiktok", "instagram")
AD_PLATFORMS = ("meta_ads", "tiktok_ads", "apple_ads")


class Severity(IntEnum):
    """Higher is worse; the default sort puts the worst first."""

    OFF = 0  # disconnected: nothing to fix, kept for the record
    OK = 1
    WARNING = 2
    CRITICAL = 3


SEVERITY_GLYPH = {
    Severity.CRITICAL: "✖",
    Severity.WARNING: "▲",
    Severity.OK: "●",
    Severity.OFF: "○",
}


@dataclass(frozen=True)
class Thresholds:
    warn_seconds: float = 7 * 86_400
    crit_seconds: float = 86_400


@dataclass(frozen=True)
class AccountRow:
    """One line of the accounts table, social or ad, with everything already decided."""

    key: str
    kind: str  # "social" | "ad"
    project_id: str
    project_name: str
    platform: str
    name: str
    status: str  # raw value from the API
    status_label: str
    severity: Severity
    leased: bool
    connected_at: datetime | None
    token_expires_at: datetime | None
    problem: str  # one sentence: what is wrong and what to do ("" when fine)
    checked_at: datetime | None = None  # when this row's token state was last seen

    @property
    def platform_label(self) -> str:
        return PLATFORM_LABELS.get(self.platform) or safe(self.platform, 40)

    @cached_property
    def search_fields(self) -> dict[str, str]:
        """Lower-cased text per filter field, computed once per row (filtering 10,000 rows
        on every keystroke must not rebuild these)."""
        return {
            "status": f"{self.status}\n{self.status_label}".lower(),
            "platform": f"{self.platform}\n{self.platform_label}".lower(),
            "project": f"{self.project_name}\n{self.project_id}".lower(),
            "kind": self.kind,
            "name": self.name.lower(),
            "id": self.key.lower(),
        }

    @cached_property
    def search_text(self) -> str:
        return "\n".join(self.search_fields.values())

    @property
    def can_reauth(self) -> bool:
        """Social: reauth keeps the id (not for leased or disconnected). Ad: the ads
        oauth-url reconnects the row in place."""
        if self.kind == "ad":
            return True
        return not self.leased and self.status != "disconnected"

    @property
    def can_revoke(self) -> bool:
        return self.kind == "social" and not self.leased and self.status != "disconnected"


def relative_time(moment: datetime | None, now: datetime) -> str:
    """ "in 3 days", "expired 2 h ago"-style wording for a token expiry."""
    if moment is None:
        return "—"
    seconds = (moment - now).total_seconds()
    length = span(abs(seconds))
    if seconds >= 0:
        return f"in {length}"
    return f"expired {length} ago"


def age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    seconds = (now - moment).total_seconds()
    return "just now" if seconds < 60 else f"{span(seconds)} ago"


def span(seconds: float) -> str:
    """ "45 s", "12 min", "3 h", "5 days", "2 months": a duration as people say it."""
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86_400:
        return f"{int(seconds // 3600)} h"
    if seconds < 60 * 86_400:
        return f"{int(seconds // 86_400)} days"
    return f"{int(seconds // (30 * 86_400))} months"


def social_row(
    account: SocialAccount,
    project: Project,
    now: datetime,
    thresholds: Thresholds = Thresholds(),
    checked_at: datetime | None = None,
) -> AccountRow:
    status = account.status
    expires = account.token_expires_at
    remaining = None if expires is None else (expires - now).total_seconds()
    if status == "reauth_required":
        severity, label = Severity.CRITICAL, "reauth required"
        problem = "Token no longer valid: press r to send a reconnect link (keeps the same id)."
    elif status == "disconnected":
        severity, label = Severity.OFF, "disconnected"
        problem = "Disconnected for good; press c to connect the account again (new id)."
    elif status == "connected":
        label = "leased" if account.leased else "connected"
        # A critical or warning row says why in its status, not "connected" next to a ✖.
        if remaining is not None and remaining <= 0:
            severity, label = Severity.CRITICAL, "token expired"
            problem = "Token expired; the API will flag it for reauth. Press r to reconnect."
        elif remaining is not None and remaining <= thresholds.crit_seconds:
            severity, label = Severity.CRITICAL, f"expires < {span(thresholds.crit_seconds)}"
            problem = "Token expires within a day: reconnect now (r) to avoid failed posts."
        elif remaining is not None and remaining <= thresholds.warn_seconds:
            severity, label = Severity.WARNING, f"expires < {span(thresholds.warn_seconds)}"
            problem = "Token expires soon: schedule a reconnect (r)."
        else:
            severity, problem = Severity.OK, ""
    else:
        severity, label = Severity.WARNING, f"unknown ({safe(status, 40)})"
        problem = f"Status '{safe(status, 40)}' is unknown to this version of layers-tui."
    return AccountRow(
        key=account.social_account_id,
        kind="social",
        project_id=project.id,
        project_name=project.name,
        platform=account.platform,
        name=account.handle,
        status=status,
        status_label=label,
        severity=severity,
        leased=account.leased,
        connected_at=account.connected_at,
        token_expires_at=expires,
        problem=problem,
        checked_at=checked_at,
    )


def ad_row(account: AdAccount, project: Project) -> AccountRow:
    token = account.token_status
    if token == "valid":
        severity, label, problem = Severity.OK, "token valid", ""
    elif token in ("expired", "revoked", "invalid"):
        severity, label = Severity.CRITICAL, f"token {token}"
        problem = "Ad token unusable: press r to reconnect (updates this row in place)."
    else:
        severity, label = Severity.WARNING, f"unknown ({safe(token, 40)})"
        problem = f"tokenStatus '{safe(token, 40)}' is unknown to this version of layers-tui."
    return AccountRow(
        key=account.ad_account_id,
        kind="ad",
        project_id=project.id,
        project_name=project.name,
        platform=account.platform,
        name=account.name,
        status=token,
        status_label=label,
        severity=severity,
        leased=False,
        connected_at=account.connected_at,
        token_expires_at=None,
        problem=problem,
        checked_at=account.token_last_validated_at,
    )


@dataclass(frozen=True)
class Summary:
    critical: int = 0
    warning: int = 0
    ok: int = 0
    off: int = 0

    @property
    def total(self) -> int:
        return self.critical + self.warning + self.ok + self.off

    @property
    def worst(self) -> Severity:
        if self.critical:
            return Severity.CRITICAL
        if self.warning:
            return Severity.WARNING
        return Severity.OK if self.ok else Severity.OFF


def summarize(rows: list[AccountRow]) -> Summary:
    counts = {severity: 0 for severity in Severity}
    for row in rows:
        counts[row.severity] += 1
    return Summary(
        critical=counts[Severity.CRITICAL],
        warning=counts[Severity.WARNING],
        ok=counts[Severity.OK],
        off=counts[Severity.OFF],
    )


def combine(summaries: Iterable[Summary]) -> Summary:
    """Totals of several projects' summaries."""
    critical = warning = ok = off = 0
    for summary in summaries:
        critical += summary.critical
        warning += summary.warning
        ok += summary.ok
        off += summary.off
    return Summary(critical=critical, warning=warning, ok=ok, off=off)


ACTIONS = ("reauth", "connect", "none")


def remedy(row: AccountRow, now: datetime) -> tuple[str, str]:
    """What is wrong with `row` and what fixes it, for machines and alerts: (problem, action),
    with no key names in them ("token expired 2 h ago", "reauth"); ("", "none") when fine."""
    if row.kind == "social" and row.status == "reauth_required":
        return "reauth required", "reauth"
    if row.kind == "social" and row.status == "disconnected":
        return "disconnected", "connect"
    if row.severity in (Severity.OK, Severity.OFF):
        return "", "none"
    if row.kind == "social" and row.status == "connected" and row.token_expires_at is not None:
        when = relative_time(row.token_expires_at, now)
        return f"token {when if when.startswith('expired') else 'expires ' + when}", "reauth"
    if row.kind == "ad" and row.status in ("expired", "revoked", "invalid"):
        return f"ad token {row.status}", "reauth"
    return f"status '{safe(row.status, 40)}' unknown to this version of layers-tui", "none"

"""Words for a pending flow: status, countdown, the hand-off message, link safety."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from layers_tui.domain.status import PLATFORM_LABELS
from layers_tui.flows.model import PendingFlow
from layers_tui.text import is_clean, safe

# Hosts a real authorize URL may point at (the platforms' consent pages).
PLATFORM_HOSTS = (
    "tiktok.com",
    "instagram.com",
    "facebook.com",
    "apple.com",
    "business-api.tiktok.com",
    "layers.com",
)


def flow_status(flow: PendingFlow, now: datetime) -> tuple[str, str, str]:
    """(glyph, headline, detail) for the flow's current state."""
    if flow.status == "completed":
        who = flow.result_label or flow.account_label or ""
        return (
            "✔",
            f"Connected{(' ' + who) if who else ''}",
            (
                "The dashboard row updates by itself."
                if flow.kind != "reauth"
                else "Same account id as before; queued posts resume."
            ),
        )
    if flow.status == "expired":
        return "⌛", "Link expired", ""
    if flow.status == "cancelled":
        return "■", "Cancelled", ""
    if flow.status == "failed":
        return "✖", f"Failed ({flow.code or 'unknown'})", ""
    polled = (
        "not polled yet"
        if flow.last_polled_at is None
        else f"polled {_seconds(now, flow.last_polled_at)} ago"
    )
    upcoming = ""
    if flow.next_poll_at is not None:
        wait = max(0, int((flow.next_poll_at - now).total_seconds()))
        upcoming = f" · {'retry' if flow.failures else 'next poll'} in {wait} s"
    # The engine's result may carry the wait it chose when the poll failed ("retrying in
    # 10 s"); that number does not move, so only the live countdown above says when.
    result = _FIXED_WAIT.sub("", flow.last_result)
    return (
        "⏳",
        "Waiting for the account owner",
        (
            f"{result} · {polled}{upcoming} · {flow.attempts} poll"
            f"{'' if flow.attempts == 1 else 's'}"
        ),
    )


_FIXED_WAIT = re.compile(r"(?::|,)?\s*(?:retrying|next try) in \d+ s$")


def _seconds(now: datetime, then: datetime) -> str:
    return f"{max(0, int((now - then).total_seconds()))} s"


def countdown(flow: PendingFlow, now: datetime) -> str:
    """The link's time left, in the project's zone (named). A finished flow's link is used
    or abandoned: no "valid until" for it, only when an expired one ran out."""
    remaining = (flow.expires_at - now).total_seconds()
    local = _local(flow.expires_at, flow.timezone)
    if flow.terminal:
        return f"Link expired at {local}" if flow.status == "expired" else ""
    if remaining <= 0:
        return f"Expired at {local}"
    minutes, seconds = divmod(int(remaining), 60)
    return f"Expires in {minutes}:{seconds:02d} (at {local})"


def _local(moment: datetime, timezone: str) -> str:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
        timezone = "UTC"
    return f"{moment.astimezone(zone):%H:%M} {timezone}"


def expiry_in_zone(flow: PendingFlow) -> str:
    """ "14:10 Europe/London": when the link expires, in the zone the flow screen uses."""
    return _local(flow.expires_at, flow.timezone)


def exit_line(flow: PendingFlow) -> str:
    """The line printed on exit for a flow still pending (its time in the screen's zone)."""
    return (
        f"Still pending ({safe(flow.project_name, 60)}, {flow.platform}, expires "
        f"{expiry_in_zone(flow)}): {safe(flow.authorize_url, None)}"
    )


LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def loopback_note(url: str, demo: bool = False) -> str | None:
    """When the link's host is this computer (the demo's sandbox), say that a phone cannot
    open it (and, in the demo, how to answer it instead); None for any other host."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() in LOOPBACK_NAMES
    if not loopback:
        return None
    note = f"The link points at {host}, this computer: a phone cannot open it."
    if demo:
        note += " Demo: a approves, x denies."
    return note


def handoff_message(flow: PendingFlow) -> str:
    """A ready-to-send message for the account owner, with the expiry in the project's zone."""
    platform = PLATFORM_LABELS.get(flow.platform, flow.platform)
    action = "reconnect" if flow.kind == "reauth" else "connect"
    account = f" ({flow.account_label})" if flow.account_label else ""
    zone_time = _local(flow.expires_at, flow.timezone)
    try:
        day = f"{flow.expires_at.astimezone(ZoneInfo(flow.timezone)):%d %b}"
    except (ZoneInfoNotFoundError, ValueError):
        day = f"{flow.expires_at:%d %b}"
    return (
        f"Hi! Please {action} your {platform} account{account} for {flow.project_name} "
        f"using this link:\n{flow.authorize_url}\n\nIt works once and only until "
        f"{zone_time} on {day}. If it has expired, just ask me for a new one."
    )


def link_warning(url: str, base_url: str) -> str | None:
    """Why a URL must not be made clickable or opened, or None when it looks right.

    The host is read the way a browser reads it (WHATWG URL), not the way `urlsplit` does. For
    http and https a browser takes a backslash for a slash, so `https://evil.example\\.tiktok.com/`
    and `https://evil.example\\@www.tiktok.com/` both open evil.example, while `urlsplit` sees a
    tiktok.com host in each (a subdomain in the first, after a user name in the second). Links
    with a backslash, a user name (`@` before the host), any control or space character, or a
    host that is not plain ASCII letters, digits, dots and hyphens are refused, not guessed at.
    """
    if not is_clean(url) or any(c.isspace() for c in url):
        return "the link contains control or space characters"
    if "\\" in url:
        return (
            "the link contains a backslash, which a browser reads as '/': its real host may differ"
        )
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if not colon or not _SCHEME.fullmatch(scheme):
        return "the link has no scheme"
    if scheme not in ("https", "http"):
        return f"unexpected link scheme {scheme!r}"
    if not rest.startswith("//"):
        return "the link has no // after its scheme"
    authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
    if "@" in authority:
        return "the link names a user before its host (@): its real host may differ"
    host, port = _split_authority(authority)
    if host is None or not (port == "" or port.isdigit()):
        return "the link's host or port is malformed"
    api_host = (urlsplit(base_url).hostname or "").lower()
    if host == api_host and host:
        return None  # the sandbox serves its own consent page
    if scheme != "https":
        return "the link is not https"
    if not any(host == known or host.endswith("." + known) for known in PLATFORM_HOSTS):
        return f"unexpected host {host}: check it before sending it to anyone"
    return None


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")


def _split_authority(authority: str) -> tuple[str | None, str]:
    """(host in lower case, port text) of an authority without userinfo; host None when it is
    not plain ASCII letters, digits, dots and hyphens (or a bracketed IPv6 address)."""
    if authority.startswith("["):
        address, bracket, port = authority[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None, ""
        try:
            host = str(ipaddress.IPv6Address(address))
        except ValueError:
            return None, ""
        return host, port[1:]
    host, _, port = authority.partition(":")
    host = host.lower()
    if not host.isascii() or not _HOST.fullmatch(host) or ".." in host:
        return None, ""
    return host, port

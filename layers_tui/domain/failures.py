"""Plain-language causes and next steps for every way a connect can fail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from layers_tui.text import safe


@dataclass(frozen=True)
class Explanation:
    title: str
    cause: str
    next_step: str


OAUTH_FAILURES = {
    "state_expired": Explanation(
        "Link expired",
        "Nobody finished the consent within 10 minutes.",
        "Press n to mint a new link and send it again.",
    ),
    "platform_denied": Explanation(
        "Cancelled by the account owner",
        "The owner pressed cancel or deny on the platform.",
        "Check with the owner, then press n to send a new link.",
    ),
    "missing_code": Explanation(
        "Platform sent no code",
        "The platform redirected back without an authorization code.",
        "Press n to try again with a new link.",
    ),
    "exchange_failed": Explanation(
        "Token exchange failed",
        "Layers could not swap the code for a token.",
        "Press n to retry; if it repeats, contact Layers support with the requestId.",
    ),
    "persistence_error": Explanation(
        "Layers could not store the account",
        "A server-side storage failure, or the account was disconnected while the link was "
        "pending (Layers never brings a disconnected account back).",
        "If the account now shows disconnected, press c to connect it again (it comes back "
        "with a new id); otherwise contact Layers support with the requestId.",
    ),
    "platform_mismatch": Explanation(
        "Wrong platform",
        "The consent came back from a different platform than the link's.",
        "Press n to mint a new link for the right platform.",
    ),
    "state_terminal": Explanation(
        "Link already used",
        "This attempt had already finished when the link was opened.",
        "Press n to mint a new link; every attempt needs its own.",
    ),
    "not_found": Explanation(
        "Attempt unknown to Layers",
        "The state is gone (expired long ago, or minted by another API key).",
        "Press n to start again.",
    ),
    "no_account": Explanation(
        "No ad account appeared",
        "The link expired without a connected ad account: the owner "
        "abandoned consent or refused a required permission.",
        "Ask the owner to grant every requested permission, then press n.",
    ),
    "cancelled": Explanation(
        "Cancelled here",
        "You cancelled this attempt in layers-tui; the link may still work "
        "until it expires, but nobody is watching it.",
        "Press n to start again.",
    ),
}


# A reconnect (reauth) that fails with `persistence_error`: the one case the contract leaves
# for it is an account revoked while its reconnect link was pending (the sandbox does this).
REVOKED_WHILE_PENDING = Explanation(
    "Account was disconnected",
    "The account was disconnected (revoked) while this reconnect link was waiting, so Layers "
    "refused to bring it back; its old id stays disconnected.",
    "Press c to connect it again as a new account: it gets a new id.",
)


def explain(code: str | None, kind: str | None = None) -> Explanation:
    """Cause and next step for a failed flow; `kind` ("connect", "reauth", "ads") sharpens
    the codes whose meaning depends on what the flow was doing."""
    if kind == "reauth" and code == "persistence_error":
        return REVOKED_WHILE_PENDING
    if code and code in OAUTH_FAILURES:
        return OAUTH_FAILURES[code]
    return Explanation(
        f"Failed ({code or 'no code'})",
        "The platform or Layers reported a failure this version does not know.",
        "Press n to retry; if it repeats, contact support with the requestId.",
    )


API_ERROR_HINTS = {
    "UNAUTHENTICATED": "The API key was rejected: check LAYERS_API_KEY or the config file.",
    "FORBIDDEN_SCOPE": "This key lacks the scope for that action: ask for it to be granted.",
    "RETURN_URL_NOT_ALLOWED": "Ask your Layers account manager to add this host to the key's "
    "return URL allowlist, or set return_url to an allowed host.",
    "NOT_FOUND": "It no longer exists (or belongs to another organisation): refresh.",
    "RATE_LIMITED": "Rate limited: layers-tui waits and retries on its own.",
    "KILL_SWITCH": "API access is disabled for this key or organisation: contact Layers.",
    "CONFLICT": "Leased accounts are released through Layers, not revoked here.",
    "VALIDATION": "The request was rejected as invalid.",
    "CONNECTION_FAILED": "Check the base URL and your network; retrying on its own.",
    "TIMEOUT": "The API did not answer in time; retrying on its own.",
}


def hint_for(code: str, details: Mapping[str, Any] | None = None) -> str:
    """One line of advice for an API error code; `details` (the error's) make it exact."""
    if code == "FORBIDDEN_SCOPE" and details:
        scope = details.get("requiredScope")  # the field name is a GAP in the docs (§15.11)
        if isinstance(scope, str) and scope:
            return f"This key lacks {safe(scope, 64)}; ask an admin for a key with it."
    return API_ERROR_HINTS.get(code, "")

"""Routes that exist only in the sandbox: the consent page standing in for the platforms,
the landing page behind the demo's return URL, and key-protected test/demo controls."""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .clock import iso
from .http import KILL_SCOPES, authenticate, envelope, read_json_object, validation
from .state import (
    OAUTH_ERROR_MESSAGES,
    SOCIAL_PLATFORMS,
    ApiKey,
    SandboxError,
    World,
)

PLATFORM_NAMES = {
    "tiktok": "TikTok",
    "instagram": "Instagram",
    "meta_ads": "Meta Ads",
    "tiktok_ads": "TikTok Ads",
    "apple_ads": "Apple Search Ads",
}
FAILURE_CHOICES = ("missing_code", "exchange_failed", "persistence_error", "platform_mismatch")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem;
       color: #111; background: #fafafa; }}
.card {{ background: #fff; border: 1px solid #ddd; border-radius: 12px; padding: 1.5rem; }}
button {{ font-size: 1rem; padding: .6rem 1.2rem; border-radius: 8px; border: 1px solid #999;
          margin-right: .5rem; cursor: pointer; }}
.approve {{ background: #111; color: #fff; }}
.note {{ color: #666; font-size: .85rem; }}
</style></head><body><div class="card">{body}</div>
<p class="note">Layers sandbox: no real platform is contacted.</p></body></html>"""


def routes() -> list[Route]:
    return [
        Route("/sandbox/consent/{state}", consent_page, methods=["GET"]),
        Route("/sandbox/consent/{state}", consent_decision, methods=["POST"]),
        Route("/sandbox/return", return_page, methods=["GET"]),
        Route("/sandbox/faults", control(get_faults), methods=["GET"]),
        Route("/sandbox/faults", control(set_faults), methods=["POST"]),
        Route("/sandbox/clock", control(get_clock), methods=["GET"]),
        Route("/sandbox/clock/advance", control(advance_clock), methods=["POST"]),
        Route("/sandbox/allowlist", control(set_allowlist), methods=["POST"]),
        Route(
            "/sandbox/social-accounts/{account_id}/expire-token",
            control(expire_token),
            methods=["POST"],
        ),
        Route(
            "/sandbox/ad-accounts/{account_id}/token-status",
            control(set_token_status),
            methods=["POST"],
        ),
        Route(
            "/sandbox/projects/{project_id}/social-accounts",
            control(add_social_account),
            methods=["POST"],
        ),
        Route("/sandbox/webhooks/deliveries", control(webhook_deliveries), methods=["GET"]),
    ]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), body=body), status_code=status)


async def consent_page(request: Request) -> Response:
    world: World = request.app.state.sandbox.world
    state = request.path_params["state"]
    view = world.consent_view(state)
    if view is None:
        return _page(
            "Unknown link",
            "<h1>This link is not valid</h1><p>Ask for a new connection link.</p>",
            status=404,
        )
    platform = PLATFORM_NAMES.get(view["platform"], view["platform"])
    action = "Reconnect" if view["kind"] == "reauth" else "Connect"
    subject = f"@{view['handle']}" if view.get("handle") else f"your {platform} account"
    if view["status"] != "pending":
        body = (
            f"<h1>{html.escape(action)} {html.escape(platform)}</h1><p>This link has "
            f"already been used or has expired ({html.escape(view['status'])}).</p>"
        )
        return _page("Link finished", body)
    options = "".join(f'<option value="{code}">{code}</option>' for code in FAILURE_CHOICES)
    body = f"""<h1>{html.escape(action)} {html.escape(platform)}</h1>
<p><b>{html.escape(view["project_name"])}</b> asks to manage {html.escape(subject)}
(publishing and metrics).</p>
<p class="note">Link expires at {html.escape(view["expires_at"])}.</p>
<form method="post">
<button class="approve" name="decision" value="approve">Approve</button>
<button name="decision" value="deny">Deny</button>
<details><summary class="note">Simulate a platform failure</summary>
<select name="code">{options}</select>
<button name="decision" value="fail">Fail</button></details>
</form>"""
    return _page(f"{action} {platform}", body)


async def consent_decision(request: Request) -> Response:
    world: World = request.app.state.sandbox.world
    state = request.path_params["state"]
    # A plain urlencoded form; parsed here so the sandbox needs no multipart library.
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    decision = form.get("decision", "")
    if decision not in ("approve", "deny", "fail"):
        return _page("Bad request", "<h1>Choose Approve or Deny</h1>", status=400)
    code = form.get("code") or None
    try:
        return_url, error = world.decide(state, decision, code)
    except SandboxError:
        return _page("Unknown link", "<h1>This link is not valid</h1>", status=404)
    return RedirectResponse(_with_error(return_url, error), status_code=303)


def _with_error(url: str, error: str | None) -> str:
    if error is None:
        return url
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.append(("layers_oauth_error", error))
    return urlunsplit(parts._replace(query=urlencode(query)))


async def return_page(request: Request) -> Response:
    error = request.query_params.get("layers_oauth_error")
    if error:
        message = OAUTH_ERROR_MESSAGES.get(error, "The connection did not complete.")
        return _page(
            "Not connected",
            f"<h1>Not connected</h1><p>{html.escape(message)}</p>"
            f"<p class='note'>Code: {html.escape(error)}</p>",
        )
    return _page("Connected", "<h1>All set</h1><p>You can close this tab.</p>")


# -- controls (need an API key; no rate limits, no faults) ----------------------------------------
Control = Callable[[Request, ApiKey], Awaitable[Any]]


def control(handler: Control) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        sandbox = request.app.state.sandbox
        request_id = sandbox.world.request_id()
        try:
            key = authenticate(request, sandbox.world, sandbox.accept_x_api_key)
            result = await handler(request, key)
        except SandboxError as error:
            return envelope(sandbox.world, error, request_id)
        return JSONResponse(result, headers={"X-Request-Id": request_id})

    run.__name__ = handler.__name__
    return run


async def get_faults(request: Request, key: ApiKey) -> dict:
    return {**request.app.state.sandbox.faults.public(), "keyKilled": key.killed}


async def set_faults(request: Request, key: ApiKey) -> dict:
    """Partial update; `killSwitch` may be null, "key", "organization" or "global"."""
    faults = request.app.state.sandbox.faults
    body = await read_json_object(request)
    numeric = {
        "latencyMs": "latency_ms",
        "rateLimitBurst": "rate_limit_burst",
        "retryAfter": "retry_after",
        "failNext": "fail_next",
        "failStatus": "fail_status",
        "malformedNext": "malformed_next",
        "htmlNext": "html_next",
    }
    for name, value in body.items():
        if name in numeric:
            if not isinstance(value, int) or value < 0:
                raise validation(
                    f"{name} must be a non-negative integer.",
                    [{"path": name, "message": "invalid"}],
                )
            setattr(faults, numeric[name], value)
        elif name == "errorRate":
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise validation(
                    "errorRate must be between 0 and 1.", [{"path": name, "message": "invalid"}]
                )
            faults.error_rate = float(value)
        elif name == "killSwitch":
            if value is not None and value not in KILL_SCOPES:
                raise validation(
                    "killSwitch must be null, key, organization or global.",
                    [{"path": name, "message": "invalid"}],
                )
            key.killed = value == "key"
            faults.kill_switch = value if value in ("organization", "global") else None
        else:
            raise validation("Unknown fault.", [{"path": name, "message": "unknown field"}])
    return await get_faults(request, key)


async def get_clock(request: Request, key: ApiKey) -> dict:
    return {"now": iso(request.app.state.sandbox.world.clock.now())}


async def advance_clock(request: Request, key: ApiKey) -> dict:
    body = await read_json_object(request)
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        raise validation(
            "seconds must be a non-negative number.", [{"path": "seconds", "message": "invalid"}]
        )
    return {"now": iso(request.app.state.sandbox.world.clock.advance(seconds))}


async def set_allowlist(request: Request, key: ApiKey) -> dict:
    body = await read_json_object(request)
    hosts = body.get("hosts")
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise validation(
            "hosts must be a list of host names.", [{"path": "hosts", "message": "invalid"}]
        )
    key.allowed_hosts = {h.lower() for h in hosts}
    return {"hosts": sorted(key.allowed_hosts)}


async def expire_token(request: Request, key: ApiKey) -> dict:
    world: World = request.app.state.sandbox.world
    return world.expire_token(key.org_id, request.path_params["account_id"])


async def set_token_status(request: Request, key: ApiKey) -> dict:
    world: World = request.app.state.sandbox.world
    body = await read_json_object(request)
    status = body.get("tokenStatus")
    if not isinstance(status, str) or not status:
        raise validation(
            "tokenStatus is required.", [{"path": "tokenStatus", "message": "required"}]
        )
    return world.set_ad_token_status(key.org_id, request.path_params["account_id"], status)


async def add_social_account(request: Request, key: ApiKey) -> dict:
    """Insert an account with any handle and status: used to test hostile or odd data."""
    world: World = request.app.state.sandbox.world
    project_id = world.resolve_project_id(request.path_params["project_id"])
    world.get_project(key.org_id, project_id)
    body = await read_json_object(request)
    platform = body.get("platform", "tiktok")
    status = body.get("status", "connected")
    handle = body.get("handle")
    # Any status string is accepted on purpose: clients must cope with values they don't know.
    if (
        platform not in SOCIAL_PLATFORMS
        or not isinstance(status, str)
        or not status
        or not isinstance(handle, str)
    ):
        raise validation(
            "platform (tiktok|instagram), status and handle are required.",
            [{"path": "handle", "message": "required"}],
        )
    extra_fields = body.get("extraFields")
    if extra_fields is not None and not isinstance(extra_fields, dict):
        raise validation(
            "extraFields must be an object.", [{"path": "extraFields", "message": "object"}]
        )
    hours = body.get("tokenExpiresInHours", 24 * 30)
    expires = world.clock.now() + timedelta(hours=hours) if hours is not None else None
    return world.add_social_account(
        project_id,
        platform,
        handle,
        status,
        leased=bool(body.get("leased", False)),
        token_expires_at=expires,
        queued_posts=int(body.get("queuedPosts", 0)),
        display_name=body.get("displayName"),
        extra_fields=extra_fields,
    )


async def webhook_deliveries(request: Request, key: ApiKey) -> dict:
    """Every delivery so far, oldest first, without payloads (as the contract's list)."""
    webhooks = request.app.state.sandbox.webhooks
    if webhooks is None:
        return {"url": None, "items": []}
    return {"url": webhooks.url, "items": [d.public() for d in list(webhooks.deliveries)]}

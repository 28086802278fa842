"""ASGI app factory for the sandbox: the /v1 routes of the Partner API contract."""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import consent
from .clock import SandboxClock
from .http import (
    TIERS,
    Faults,
    Problems,
    RateLimiter,
    RequestLog,
    check_return_url,
    decode_cursor,
    encode_cursor,
    endpoint,
    envelope,
    parse_bool,
    parse_enum,
    parse_limit,
    read_json_object,
    reject_unknown_fields,
    return_url_problems,
    validation,
)
from .seed import seed_demo, seed_generated
from .state import (
    AD_PLATFORMS,
    SOCIAL_PLATFORMS,
    SOCIAL_STATUSES,
    ApiKey,
    SandboxError,
    World,
    make_demo_key,
    not_found,
    parse_key_spec,
)
from .webhooks import WebhookDispatcher, check_webhook_url

if TYPE_CHECKING:
    import httpx

SA_ID = re.compile(r"^sa_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DEFAULT_SCOPES = {
    "tiktok": ["user.info.basic", "video.upload", "video.publish", "video.list"],
    "instagram": [
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_insights",
    ],
    "meta_ads": [
        "ads_management",
        "ads_read",
        "business_management",
        "pages_manage_ads",
        "pages_show_list",
    ],
    "tiktok_ads": ["user.info.basic", "advertiser.list", "ad.read", "ad.write"],
    "apple_ads": ["campaigns:read", "campaigns:write"],
}


@dataclass
class Sandbox:
    """Everything the routes share; reachable as `request.app.state.sandbox`."""

    world: World
    faults: Faults
    limiter: RateLimiter
    accept_x_api_key: bool = True
    demo_key: str | None = None
    webhooks: WebhookDispatcher | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def create_app(
    *,
    clock: SandboxClock | None = None,
    api_keys: list[str] | None = None,
    allowed_hosts: list[str] | None = None,
    tier: str = "standard",
    seed: int | None = 0,
    projects: int | None = None,
    accounts_per_project: int = 20,
    db_path: str = ":memory:",
    latency_ms: int = 0,
    rng_seed: int | None = None,
    accept_x_api_key: bool = True,
    org_name: str = "Demo Agency",
    scopes: list[str] | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    webhook_transport: httpx.BaseTransport | None = None,
    webhook_sleep: Callable[[float], None] | None = None,
    log_requests: Callable[[str], None] | None = None,
) -> Starlette:
    """Build the emulator. With no `api_keys` a demo `lp_test_` key is created (`demo_key`).

    An `api_keys` entry is `KEY` or `KEY:scope,scope` (that key's scopes; otherwise `scopes`,
    default `*`). `seed=None` starts an empty organisation; `projects=N` generates a large one
    instead of the curated demo data. A file `db_path` that already holds data is reused, not
    reseeded. With `webhook_url` and `webhook_secret`, `social_account.connected` is delivered
    there, signed (`webhooks.py`). `log_requests` receives one line per request. Bad options
    raise ValueError with a message for the operator.
    """
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose {', '.join(TIERS)}")
    specs = [parse_key_spec(entry) for entry in api_keys or []]
    if webhook_secret and not webhook_url:
        raise ValueError("--webhook-secret needs --webhook-url")
    if webhook_url and not webhook_secret:
        raise ValueError("--webhook-url needs --webhook-secret (the signing secret)")
    if webhook_url:
        check_webhook_url(webhook_url)
    clock = clock or SandboxClock()
    world = World(clock, db_path=db_path, rng_seed=rng_seed)
    demo_key = None
    if not specs:
        demo_key = world.meta("demo_key") or make_demo_key(
            None if rng_seed is None else random.Random(rng_seed)
        )
        world.set_meta("demo_key", demo_key)
        specs = [(demo_key, None)]
    hosts = set(allowed_hosts or ["localhost"])
    for secret, key_scopes in specs:
        world.add_key(
            secret,
            org_name=org_name,
            tier=tier,
            allowed_hosts=set(hosts),
            scopes=list(key_scopes if key_scopes is not None else scopes or ["*"]),
        )
    webhooks = None
    if webhook_url and webhook_secret:
        webhooks = WebhookDispatcher(
            webhook_url,
            webhook_secret,
            clock=clock,
            new_id=world.new_token,
            transport=webhook_transport,
            sleep=webhook_sleep,
        )
        world.on_event = webhooks.emit
    org_id = next(iter(world.keys.values())).org_id
    if world.project_count() == 0:
        if projects is not None:
            seed_generated(world, org_id, projects, accounts_per_project, seed or 0)
        elif seed is not None:
            seed_demo(world, org_id)
    sandbox = Sandbox(
        world=world,
        faults=Faults(latency_ms=latency_ms),
        limiter=RateLimiter(world),
        accept_x_api_key=accept_x_api_key,
        demo_key=demo_key,
        webhooks=webhooks,
    )

    routes = [
        Route("/v1/whoami", whoami, methods=["GET"]),
        Route("/v1/projects", list_projects, methods=["GET"]),
        Route("/v1/projects", create_project, methods=["POST"]),
        Route("/v1/projects/{project_id}", get_project, methods=["GET"]),
        Route("/v1/projects/{project_id}/social-accounts", list_social_accounts, methods=["GET"]),
        Route("/v1/projects/{project_id}/social/oauth-url", social_oauth_url, methods=["POST"]),
        Route("/v1/projects/{project_id}/social/reauth-url", social_reauth_url, methods=["POST"]),
        Route("/v1/social/oauth-status/{state}", oauth_status, methods=["GET"]),
        Route("/v1/social-accounts/{account_id}/health", social_health, methods=["GET"]),
        Route("/v1/social-accounts/{account_id}", revoke_social_account, methods=["DELETE"]),
        Route("/v1/projects/{project_id}/ads/ad-accounts", list_ad_accounts, methods=["GET"]),
        Route(
            "/v1/projects/{project_id}/ads/ad-accounts/oauth-url", ads_oauth_url, methods=["POST"]
        ),
        *consent.routes(),
    ]
    middleware = [Middleware(RequestLog, write=log_requests)] if log_requests else []
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_exception}
    )
    app.state.sandbox = sandbox
    return app


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    world: World = request.app.state.sandbox.world
    code = "NOT_FOUND" if exc.status_code == 404 else "METHOD_NOT_ALLOWED"
    message = "No such route." if exc.status_code == 404 else "Method not allowed on this route."
    return envelope(world, SandboxError(exc.status_code, code, message), world.request_id())


def _sandbox(request: Request) -> Sandbox:
    return request.app.state.sandbox


def _project_for(request: Request, key: ApiKey) -> dict:
    world = _sandbox(request).world
    project_id = world.resolve_project_id(request.path_params["project_id"])
    return world.get_project(key.org_id, project_id)


def _social_path_id(request: Request) -> str:
    account_id = request.path_params["account_id"]
    if not SA_ID.match(account_id):
        raise validation(
            "Malformed social account id (expected sa_<uuid>).",
            [{"path": "socialAccountId", "message": "expected sa_<uuid>"}],
            status=400,
        )
    return account_id


def _check_scopes(body: dict[str, Any], problems: Problems) -> None:
    scopes = body.get("scopes")
    if scopes is None:
        return
    if (
        not isinstance(scopes, list)
        or len(scopes) > 32
        or not all(isinstance(item, str) and 0 < len(item) <= 64 for item in scopes)
    ):
        problems.add(
            "scopes", "out of bounds", "scopes must be at most 32 strings of at most 64 characters."
        )


def _authorize_url(request: Request, state: str, platform: str, scopes: list[str]) -> str:
    """Stands in for www.tiktok.com / www.instagram.com: the consent page of this sandbox,
    with the query a real platform URL carries (so its length, and QR size, is realistic)."""
    base = str(request.base_url).rstrip("/")
    world = _sandbox(request).world
    challenge = hashlib.sha256(state.encode()).hexdigest()[:43]
    query = urlencode(
        {
            "client_key": "sbx" + hashlib.sha1(world.meta("org_id").encode()).hexdigest()[:13],
            "response_type": "code",
            "scope": ",".join(scopes),
            "redirect_uri": f"https://api.layers.com/api/partner/v1/social/oauth-callback/{platform}",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return f"{base}/sandbox/consent/{state}?{query}"


# -- organisation and projects --------------------------------------------------------------------
@endpoint(scope=None)
async def whoami(request: Request, key: ApiKey) -> Response:
    return JSONResponse(
        {
            "organizationId": key.org_id,
            "workspaceId": key.org_id,
            "organizationName": key.org_name,
            "parentOrganizationId": None,
            "scopes": list(key.scopes),
            "rateLimitTier": key.tier,
            "apiKeyId": key.api_key_id,
            "killSwitch": False,
            "apiAccessRevoked": False,
            "creditBalance": 6000,
        }
    )


@endpoint(scope="projects:read")
async def list_projects(request: Request, key: ApiKey) -> Response:
    problems = Problems()
    limit = parse_limit(request, 25, 200, problems)
    cursor = decode_cursor(request.query_params.get("cursor"), {"seq": int}, problems)
    status = parse_enum(request, "status", ("active", "archived"), problems)
    problems.raise_if_any()
    page, next_seq = _sandbox(request).world.list_projects(
        key.org_id,
        status,
        request.query_params.get("search"),
        request.query_params.get("customerExternalId"),
        before_seq=cursor["seq"] if cursor else None,
        limit=limit,
    )
    next_cursor = encode_cursor({"seq": next_seq}) if next_seq is not None else None
    return JSONResponse({"items": page, "nextCursor": next_cursor})


@endpoint(scope="projects:read")
async def get_project(request: Request, key: ApiKey) -> Response:
    return JSONResponse(_project_for(request, key))


@endpoint(scope="projects:write")
async def create_project(request: Request, key: ApiKey) -> Response:
    world = _sandbox(request).world
    raw = await request.body()
    idem_key = request.headers.get("idempotency-key")
    body_hash = hashlib.sha256(raw).hexdigest()
    if idem_key:
        previous = world.idempotent_lookup(key.key_id, "POST /v1/projects", idem_key)
        if previous is not None:
            if previous["body_hash"] != body_hash:
                raise SandboxError(
                    409,
                    "IDEMPOTENCY_CONFLICT",
                    "Idempotency-Key reused with a different request body.",
                    {"originalRequestHash": previous["body_hash"], "currentRequestHash": body_hash},
                )
            return JSONResponse(
                json.loads(previous["body"]),
                status_code=previous["status"],
                headers={"Idempotent-Replayed": "true"},
            )
    body = await read_json_object(request)
    problems = Problems()
    reject_unknown_fields(
        body,
        {"name", "customerExternalId", "ownerEmail", "timezone", "primaryLanguage", "metadata"},
        problems,
    )
    name = body.get("name")
    if not isinstance(name, str) or not 3 <= len(name) <= 30:
        problems.add("name", "must be 3 to 30 characters", "name must be 3 to 30 characters.")
    timezone = body.get("timezone")
    if not _is_time_zone(timezone):
        problems.add("timezone", "must be an IANA time zone", "timezone must be an IANA zone.")
    for optional in ("customerExternalId", "ownerEmail", "primaryLanguage"):
        if optional in body and not isinstance(body[optional], str):
            problems.add(optional, "must be a string", f"{optional} must be a string.")
    problems.raise_if_any()
    project = world.create_project(
        key.org_id,
        name,
        timezone,
        customer_external_id=body.get("customerExternalId"),
        primary_language=body.get("primaryLanguage", "en"),
        owner_email=body.get("ownerEmail"),
    )
    if idem_key:
        world.idempotent_store(key.key_id, "POST /v1/projects", idem_key, body_hash, 201, project)
    return JSONResponse(project, status_code=201)


def _is_time_zone(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# -- social accounts ---------------------------------------------------------------------------
@endpoint(scope="social:read")
async def list_social_accounts(request: Request, key: ApiKey) -> Response:
    project = _project_for(request, key)
    problems = Problems()
    limit = parse_limit(request, 50, 200, problems)
    platform = parse_enum(request, "platform", SOCIAL_PLATFORMS, problems)
    status = parse_enum(request, "status", SOCIAL_STATUSES, problems)
    leased = parse_bool(request, "leased", problems)
    cursor = decode_cursor(
        request.query_params.get("cursor"), {"connectedAt": str, "id": str}, problems
    )
    problems.raise_if_any()
    page, more = _sandbox(request).world.list_social_accounts(
        project["id"],
        platform,
        status,
        leased,
        after=(cursor["connectedAt"], cursor["id"]) if cursor else None,
        limit=limit,
    )
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = encode_cursor(
            {"connectedAt": last["connectedAt"], "id": last["socialAccountId"]}
        )
    return JSONResponse({"items": page, "nextCursor": next_cursor})


@endpoint(scope="social:write")
async def social_oauth_url(request: Request, key: ApiKey) -> Response:
    project = _project_for(request, key)
    body = await read_json_object(request)
    problems = Problems()
    reject_unknown_fields(body, {"platform", "returnUrl", "scopes", "usageNote"}, problems)
    platform = body.get("platform")
    if platform not in SOCIAL_PLATFORMS:
        problems.add("platform", "unsupported platform", "platform must be tiktok or instagram.")
    _check_scopes(body, problems)
    if "usageNote" in body and not isinstance(body["usageNote"], str):
        problems.add("usageNote", "must be a string", "usageNote must be a string.")
    return_url_problems(body.get("returnUrl"), problems)
    problems.raise_if_any()
    return_url = check_return_url(key, body["returnUrl"])
    minted = _sandbox(request).world.mint_state(key, "connect", project["id"], platform, return_url)
    scopes = body.get("scopes") or DEFAULT_SCOPES[platform]
    return JSONResponse(
        {"authorizeUrl": _authorize_url(request, minted["state"], platform, scopes), **minted}
    )


@endpoint(scope="social:write")
async def social_reauth_url(request: Request, key: ApiKey) -> Response:
    project = _project_for(request, key)
    body = await read_json_object(request)
    problems = Problems()
    reject_unknown_fields(body, {"socialAccountId", "returnUrl", "scopes"}, problems)
    account_id = body.get("socialAccountId")
    if not isinstance(account_id, str) or not SA_ID.match(account_id):
        problems.add("socialAccountId", "expected sa_<uuid>", "socialAccountId must be sa_<uuid>.")
    _check_scopes(body, problems)
    return_url_problems(body.get("returnUrl"), problems)
    problems.raise_if_any()
    return_url = check_return_url(key, body["returnUrl"])
    world = _sandbox(request).world
    try:
        account = world.social_account(account_id)
    except SandboxError:
        account = None
    if (
        account is None
        or account.get("status") == "disconnected"
        or world.social_account_in_org(key.org_id, account_id)["project_id"] != project["id"]
    ):
        raise not_found("Social account")
    if account["leased"]:
        raise SandboxError(409, "CONFLICT", "Leased accounts are reconnected by Layers.")
    minted = world.mint_state(
        key, "reauth", project["id"], account["platform"], return_url, social_account_id=account_id
    )
    scopes = body.get("scopes") or DEFAULT_SCOPES[account["platform"]]
    return JSONResponse(
        {
            "authorizeUrl": _authorize_url(request, minted["state"], account["platform"], scopes),
            **minted,
        }
    )


@endpoint(scope="social:read")
async def oauth_status(request: Request, key: ApiKey) -> Response:
    state = request.path_params["state"]
    return JSONResponse(_sandbox(request).world.oauth_status(key, state))


@endpoint(scope="social:read")
async def social_health(request: Request, key: ApiKey) -> Response:
    account_id = _social_path_id(request)
    return JSONResponse(_sandbox(request).world.health(key.org_id, account_id))


@endpoint(scope="social:write")
async def revoke_social_account(request: Request, key: ApiKey) -> Response:
    account_id = _social_path_id(request)
    return JSONResponse(_sandbox(request).world.revoke(key.org_id, account_id))


# -- ad accounts --------------------------------------------------------------------------------
@endpoint(scope="ads:read")
async def list_ad_accounts(request: Request, key: ApiKey) -> Response:
    project = _project_for(request, key)
    problems = Problems()
    platforms: list[str] = []
    for value in request.query_params.getlist("platforms"):
        platforms.extend(part for part in value.split(",") if part)
    for unknown in [p for p in platforms if p not in AD_PLATFORMS]:
        problems.add(
            "platforms",
            f"unsupported: {unknown}",
            "platforms must be meta_ads, tiktok_ads or apple_ads.",
        )
    healthy = parse_bool(request, "healthy", problems) or False
    problems.raise_if_any()
    items = _sandbox(request).world.list_ad_accounts(project["id"], platforms, healthy)
    return JSONResponse({"items": items})


@endpoint(scope="ads:write")
async def ads_oauth_url(request: Request, key: ApiKey) -> Response:
    project = _project_for(request, key)
    body = await read_json_object(request)
    problems = Problems()
    reject_unknown_fields(body, {"platform", "returnUrl", "redirectUrl", "state"}, problems)
    platform = body.get("platform")
    if platform not in AD_PLATFORMS:
        problems.add(
            "platform",
            "unsupported platform",
            "platform must be meta_ads, tiktok_ads or apple_ads.",
        )
    field_name = "redirectUrl" if "redirectUrl" in body and "returnUrl" not in body else "returnUrl"
    return_url_problems(body.get(field_name), problems, field_name)
    partner_state = body.get("state")
    if partner_state is not None and (
        not isinstance(partner_state, str) or len(partner_state) > 256
    ):
        problems.add("state", "invalid", "state must be a string of at most 256 characters.")
    problems.raise_if_any()
    return_url = check_return_url(key, body[field_name])
    minted = _sandbox(request).world.mint_state(
        key, "ads", project["id"], platform, return_url, partner_state=partner_state
    )
    url = _authorize_url(request, minted["state"], platform, DEFAULT_SCOPES[platform])
    return JSONResponse({"url": url, "expiresAt": minted["expiresAt"], "platform": platform})

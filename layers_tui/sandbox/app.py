"""ASGI app factory for the sandbox: the /v1 routes of the Partner API contract."""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import consent
from .clock import SandboxClock
from .http import (
    Faults,
    RateLimiter,
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
)

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
    extra: dict[str, Any] = field(default_factory=dict)


def create_app(
    *,
    clock: SandboxClock | None = None,
    api_keys: list[str] | None = None,
    allowed_hosts: list[str] | None = None,
    tier: str = "partner",
    seed: int | None = 0,
    projects: int | None = None,
    accounts_per_project: int = 20,
    db_path: str = ":memory:",
    latency_ms: int = 0,
    rng_seed: int | None = None,
    accept_x_api_key: bool = True,
    org_name: str = "Demo Agency",
    scopes: list[str] | None = None,
) -> Starlette:
    """Build the emulator. With no `api_keys` a demo `lp_test_` key is created (`demo_key`).

    `seed=None` starts an empty organisation; `projects=N` generates a large one instead of
    the curated demo data. A file `db_path` that already holds data is reused, not reseeded.
    """
    clock = clock or SandboxClock()
    world = World(clock, db_path=db_path, rng_seed=rng_seed)
    keys = list(api_keys or [])
    demo_key = None
    if not keys:
        demo_key = world.meta("demo_key") or make_demo_key(
            None if rng_seed is None else random.Random(rng_seed)
        )
        world.set_meta("demo_key", demo_key)
        keys = [demo_key]
    hosts = set(allowed_hosts or ["localhost"])
    for secret in keys:
        world.add_key(
            secret,
            org_name=org_name,
            tier=tier,
            allowed_hosts=set(hosts),
            scopes=list(scopes or ["*"]),
        )
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
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_exception})
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


def _check_scopes(body: dict[str, Any]) -> None:
    scopes = body.get("scopes")
    if scopes is None:
        return
    if (
        not isinstance(scopes, list)
        or len(scopes) > 32
        or not all(isinstance(item, str) and 0 < len(item) <= 64 for item in scopes)
    ):
        raise validation(
            "scopes must be at most 32 strings of at most 64 characters.",
            [{"path": "scopes", "message": "out of bounds"}],
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
    limit = parse_limit(request, default=25, maximum=200)
    cursor = decode_cursor(request.query_params.get("cursor"), {"offset"})
    offset = int(cursor["offset"]) if cursor and isinstance(cursor["offset"], int) else 0
    status = parse_enum(request, "status", ("active", "archived"))
    projects = _sandbox(request).world.list_projects(
        key.org_id,
        status,
        request.query_params.get("search"),
        request.query_params.get("customerExternalId"),
    )
    page = projects[offset : offset + limit]
    more = offset + limit < len(projects)
    return JSONResponse(
        {"items": page, "nextCursor": encode_cursor({"offset": offset + limit}) if more else None}
    )


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
    reject_unknown_fields(
        body,
        {"name", "customerExternalId", "ownerEmail", "timezone", "primaryLanguage", "metadata"},
    )
    issues = []
    name = body.get("name")
    if not isinstance(name, str) or not 3 <= len(name) <= 30:
        issues.append({"path": "name", "message": "must be 3 to 30 characters"})
    timezone = body.get("timezone")
    if not _is_time_zone(timezone):
        issues.append({"path": "timezone", "message": "must be an IANA time zone"})
    for optional in ("customerExternalId", "ownerEmail", "primaryLanguage"):
        if optional in body and not isinstance(body[optional], str):
            issues.append({"path": optional, "message": "must be a string"})
    if issues:
        raise validation("Invalid project.", issues)
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
    limit = parse_limit(request, default=50, maximum=200)
    platform = parse_enum(request, "platform", SOCIAL_PLATFORMS)
    status = parse_enum(request, "status", SOCIAL_STATUSES)
    leased = parse_bool(request, "leased")
    cursor = decode_cursor(request.query_params.get("cursor"), {"connectedAt", "id"})
    accounts = _sandbox(request).world.list_social_accounts(project["id"], platform, status, leased)
    if cursor:
        after = (str(cursor["connectedAt"]), str(cursor["id"]))
        accounts = [a for a in accounts if (a["connectedAt"], a["socialAccountId"]) > after]
    page = accounts[:limit]
    next_cursor = None
    if len(accounts) > limit:
        last = page[-1]
        next_cursor = encode_cursor(
            {"connectedAt": last["connectedAt"], "id": last["socialAccountId"]}
        )
    return JSONResponse({"items": page, "nextCursor": next_cursor})


@endpoint(scope="social:write")
async def social_oauth_url(request: Request, key: ApiKey) -> Response:
    project = _project_for(request, key)
    body = await read_json_object(request)
    reject_unknown_fields(body, {"platform", "returnUrl", "scopes", "usageNote"})
    platform = body.get("platform")
    if platform not in SOCIAL_PLATFORMS:
        raise validation(
            "platform must be tiktok or instagram.",
            [{"path": "platform", "message": "unsupported platform"}],
        )
    _check_scopes(body)
    if "usageNote" in body and not isinstance(body["usageNote"], str):
        raise validation(
            "usageNote must be a string.", [{"path": "usageNote", "message": "must be a string"}]
        )
    return_url = check_return_url(key, body.get("returnUrl"))
    minted = _sandbox(request).world.mint_state(key, "connect", project["id"], platform, return_url)
    scopes = body.get("scopes") or DEFAULT_SCOPES[platform]
    return JSONResponse(
        {"authorizeUrl": _authorize_url(request, minted["state"], platform, scopes), **minted}
    )


@endpoint(scope="social:write")
async def social_reauth_url(request: Request, key: ApiKey) -> Response:
    project = _project_for(request, key)
    body = await read_json_object(request)
    reject_unknown_fields(body, {"socialAccountId", "returnUrl", "scopes"})
    account_id = body.get("socialAccountId")
    if not isinstance(account_id, str) or not SA_ID.match(account_id):
        raise validation(
            "socialAccountId must be sa_<uuid>.",
            [{"path": "socialAccountId", "message": "expected sa_<uuid>"}],
        )
    _check_scopes(body)
    return_url = check_return_url(key, body.get("returnUrl"))
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
    platforms: list[str] = []
    for value in request.query_params.getlist("platforms"):
        platforms.extend(part for part in value.split(",") if part)
    unknown = [p for p in platforms if p not in AD_PLATFORMS]
    if unknown:
        raise validation(
            "platforms must be meta_ads, tiktok_ads or apple_ads.",
            [{"path": "platforms", "message": f"unsupported: {unknown[0]}"}],
        )
    healthy = parse_bool(request, "healthy") or False
    items = _sandbox(request).world.list_ad_accounts(project["id"], platforms, healthy)
    return JSONResponse({"items": items})


@endpoint(scope="ads:write")
async def ads_oauth_url(request: Request, key: ApiKey) -> Response:
    project = _project_for(request, key)
    body = await read_json_object(request)
    reject_unknown_fields(body, {"platform", "returnUrl", "redirectUrl", "state"})
    platform = body.get("platform")
    if platform not in AD_PLATFORMS:
        raise validation(
            "platform must be meta_ads, tiktok_ads or apple_ads.",
            [{"path": "platform", "message": "unsupported platform"}],
        )
    field_name = "returnUrl" if "returnUrl" in body else "redirectUrl"
    if field_name not in body:
        raise validation("returnUrl is required.", [{"path": "returnUrl", "message": "required"}])
    return_url = check_return_url(key, body.get(field_name), field_name)
    partner_state = body.get("state")
    if partner_state is not None and (
        not isinstance(partner_state, str) or len(partner_state) > 256
    ):
        raise validation(
            "state must be a string of at most 256 characters.",
            [{"path": "state", "message": "invalid"}],
        )
    minted = _sandbox(request).world.mint_state(
        key, "ads", project["id"], platform, return_url, partner_state=partner_state
    )
    url = _authorize_url(request, minted["state"], platform, DEFAULT_SCOPES[platform])
    return JSONResponse({"url": url, "expiresAt": minted["expiresAt"], "platform": platform})

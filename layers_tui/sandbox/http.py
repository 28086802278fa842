"""Cross-cutting HTTP behaviour of the sandbox: envelope, auth, scopes, rate limits, faults."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .state import ApiKey, SandboxError, World

TIERS: dict[str, dict[str, int]] = {
    "standard": {"read-light": 120, "write-light": 60},
    "pilot": {"read-light": 1200, "write-light": 600},
    "partner": {"read-light": 6000, "write-light": 3000},
}
KILL_SCOPES = ("key", "organization", "global")


@dataclass
class Faults:
    """Switches the demo and the tests flip to make the sandbox misbehave on purpose."""

    latency_ms: int = 0
    rate_limit_burst: int = 0  # the next N /v1 requests answer 429
    retry_after: int = 2
    fail_next: int = 0  # the next N /v1 requests answer `fail_status`
    fail_status: int = 500
    error_rate: float = 0.0  # share of /v1 requests answering 500, from a seeded RNG
    malformed_next: int = 0  # the next N /v1 requests answer 200 with broken JSON
    html_next: int = 0  # the next N /v1 requests answer 502 with an HTML page
    kill_switch: str | None = None  # "organization" or "global"; per-key kills live on the key
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def public(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms,
            "rateLimitBurst": self.rate_limit_burst,
            "retryAfter": self.retry_after,
            "failNext": self.fail_next,
            "failStatus": self.fail_status,
            "errorRate": self.error_rate,
            "malformedNext": self.malformed_next,
            "htmlNext": self.html_next,
            "killSwitch": self.kill_switch,
        }


class RateLimiter:
    """Token buckets per (key, endpoint class); capacity = the tier's per-minute figure."""

    def __init__(self, world: World):
        self._world = world
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: ApiKey, bucket: str) -> tuple[bool, dict[str, str]]:
        per_minute = TIERS.get(key.tier, TIERS["standard"])[bucket]
        rate = per_minute / 60.0
        now = self._world.clock.now().timestamp()
        with self._lock:
            tokens, stamp = self._buckets.get((key.key_id, bucket), (float(per_minute), now))
            tokens = min(float(per_minute), tokens + max(0.0, now - stamp) * rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[(key.key_id, bucket)] = (tokens, now)
        headers = {
            "X-RateLimit-Limit": str(per_minute),
            "X-RateLimit-Remaining": str(int(tokens)),
            "X-RateLimit-Reset": str(math.ceil((per_minute - tokens) / rate)),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil((1.0 - tokens) / rate)))
        return allowed, headers


class RequestLog:
    """ASGI middleware: one line per request (method, path, status, ms, request id).

    Only the path is written, never the query or a header, so no key can reach the log;
    characters that are not printable are shown as `?`."""

    def __init__(
        self,
        app: ASGIApp,
        write: Callable[[str], None],
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.write = write
        self.timer = timer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.timer()
        status, request_id = 500, "-"

        async def capture(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"x-request-id":
                        request_id = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            path = "".join(c if c.isprintable() else "?" for c in scope["path"])[:300]
            elapsed = (self.timer() - started) * 1000
            self.write(f"{scope['method']} {path} {status} {elapsed:.1f}ms {request_id}")


def envelope(world: World, error: SandboxError, request_id: str) -> JSONResponse:
    body: dict[str, Any] = {"code": error.code, "message": error.message, "requestId": request_id}
    if error.details is not None:
        body["details"] = error.details
    return JSONResponse(
        {"error": body}, status_code=error.status, headers={"X-Request-Id": request_id}
    )


def validation(message: str, issues: list[dict[str, str]], status: int = 422) -> SandboxError:
    return SandboxError(status, "VALIDATION", message, {"issues": issues})


class Problems:
    """Every validation failure of one request, so the 422's `details.issues[]` lists each
    one (the reauth-url page's wording), not only the first found."""

    def __init__(self) -> None:
        self.issues: list[dict[str, str]] = []
        self._messages: list[str] = []

    def add(self, path: str, issue: str, message: str) -> None:
        self.issues.append({"path": path, "message": issue})
        self._messages.append(message)

    def __bool__(self) -> bool:
        return bool(self.issues)

    def raise_if_any(self) -> None:
        if not self.issues:
            return
        if len(self.issues) == 1:
            message = self._messages[0]
        else:
            message = f"{len(self.issues)} problems in the request; see details.issues."
        raise validation(message, list(self.issues))


def authenticate(request: Request, world: World, accept_x_api_key: bool) -> ApiKey:
    """`X-Api-Key` wins over `Authorization: Bearer` when both are sent (contract §2.2)."""
    raw = request.headers.get("x-api-key") if accept_x_api_key else None
    if not raw:
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        raw = token.strip() if scheme.lower() == "bearer" else None
    if not raw:
        raise SandboxError(401, "UNAUTHENTICATED", "Missing API key.")
    key = world.keys.get(raw)
    if key is None:
        raise SandboxError(401, "UNAUTHENTICATED", "Invalid API key.")
    return key


async def read_json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError):
        raise validation(
            "Request body is not valid JSON.", [{"path": "", "message": "invalid JSON"}], status=400
        ) from None
    if not isinstance(body, dict):
        raise validation(
            "Request body must be a JSON object.", [{"path": "", "message": "expected an object"}]
        )
    return body


def reject_unknown_fields(body: dict[str, Any], allowed: set[str], problems: Problems) -> None:
    for name in sorted(set(body) - allowed):
        problems.add(name, "unknown field", f"Unknown field {name} in request body.")


def return_url_problems(value: Any, problems: Problems, field_name: str = "returnUrl") -> None:
    """The 422 part of a return URL: present and absolute http(s)."""
    if not isinstance(value, str) or not value:
        problems.add(field_name, "required", f"{field_name} is required.")
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.add(
            field_name, "not an absolute http(s) URL", f"{field_name} must be an absolute URL."
        )


def check_return_url(key: ApiKey, value: str) -> str:
    """The 403 part, once the request is otherwise valid: https, or http only for
    localhost; host on the key's allowlist."""
    parts = urlsplit(value)
    host = (parts.hostname or "").lower()
    details = {"returnUrl": value, "host": host}
    if parts.scheme == "http" and host != "localhost":
        raise SandboxError(
            403,
            "RETURN_URL_NOT_ALLOWED",
            "Return URLs must use https (http is allowed only for localhost).",
            details,
        )
    if host not in {allowed.lower() for allowed in key.allowed_hosts}:
        raise SandboxError(
            403,
            "RETURN_URL_NOT_ALLOWED",
            f"Host {host} is not on this API key's return URL allowlist.",
            details,
        )
    return value


def parse_limit(request: Request, default: int, maximum: int, problems: Problems) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= maximum:
        problems.add(
            "limit", f"must be 1..{maximum}", f"limit must be an integer from 1 to {maximum}."
        )
        return default
    return limit


def parse_enum(
    request: Request, name: str, allowed: tuple[str, ...], problems: Problems
) -> str | None:
    value = request.query_params.get(name)
    if value is not None and value not in allowed:
        problems.add(name, "unsupported value", f"{name} must be one of {', '.join(allowed)}.")
        return None
    return value


def parse_bool(request: Request, name: str, problems: Problems) -> bool | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if value not in ("true", "false"):
        problems.add(name, "not a boolean", f"{name} must be true or false.")
        return None
    return value == "true"


def encode_cursor(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_cursor(
    raw: str | None, types: dict[str, type], problems: Problems
) -> dict[str, Any] | None:
    """A cursor this sandbox issued: base64 JSON holding `types`' fields with those types."""
    if raw is None:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(name), kind) and not isinstance(payload.get(name), bool)
        for name, kind in types.items()
    ):
        problems.add("cursor", "malformed", "Malformed cursor.")
        return None
    return payload


Handler = Callable[[Request, ApiKey], Awaitable[Response]]


def endpoint(scope: str | None) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a /v1 handler with request id, auth, kill switch, faults, scopes and rate limits."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            sandbox = request.app.state.sandbox
            world: World = sandbox.world
            faults: Faults = sandbox.faults
            request_id = world.request_id()
            bucket = "read-light" if request.method in ("GET", "HEAD") else "write-light"
            headers = {"X-Request-Id": request_id, "X-RateLimit-Endpoint-Class": bucket}
            if faults.latency_ms:
                await asyncio.sleep(faults.latency_ms / 1000)
            try:
                key = authenticate(request, world, sandbox.accept_x_api_key)
                kill_scope = "key" if key.killed else faults.kill_switch
                if kill_scope:
                    raise SandboxError(
                        503,
                        "KILL_SWITCH",
                        f"API access is disabled ({kill_scope} kill switch).",
                        {"scope": kill_scope},
                    )
                injected = _injected_fault(faults, request_id, headers)
                if injected is not None:
                    return injected
                if not key.has_scope(scope):
                    raise SandboxError(
                        403,
                        "FORBIDDEN_SCOPE",
                        f"This API key lacks the {scope} scope.",
                        {"requiredScope": scope},
                    )
                allowed, limit_headers = sandbox.limiter.take(key, bucket)
                headers.update(limit_headers)
                if not allowed:
                    raise SandboxError(
                        429, "RATE_LIMITED", f"Rate limit exceeded for the {bucket} bucket."
                    )
                response = await handler(request, key)
            except SandboxError as error:
                response = envelope(world, error, request_id)
            for name, value in headers.items():
                response.headers.setdefault(name, value)
            return response

        run.__name__ = handler.__name__
        return run

    return wrap


def _injected_fault(faults: Faults, request_id: str, headers: dict[str, str]) -> Response | None:
    if faults.rate_limit_burst > 0:
        faults.rate_limit_burst -= 1
        headers["Retry-After"] = str(faults.retry_after)
        raise SandboxError(429, "RATE_LIMITED", "Rate limit exceeded (injected burst).")
    if faults.fail_next > 0:
        faults.fail_next -= 1
        raise _server_error(faults.fail_status)
    if faults.error_rate and faults.rng.random() < faults.error_rate:
        raise _server_error(500)
    if faults.malformed_next > 0:
        faults.malformed_next -= 1
        return Response(
            '{"items": [', status_code=200, media_type="application/json", headers=dict(headers)
        )
    if faults.html_next > 0:
        faults.html_next -= 1
        return Response(
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            status_code=502,
            media_type="text/html",
            headers=dict(headers),
        )
    return None


def _server_error(status: int) -> SandboxError:
    code = {503: "UNAVAILABLE", 502: "BAD_GATEWAY"}.get(status, "INTERNAL")
    return SandboxError(status, code, "Injected server failure.")

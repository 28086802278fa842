"""LayersClient: one method per Partner API endpoint.

GETs go over the lean path (`lean.py`); writes, proxies and tests' in-process transports over
an httpx.AsyncClient made on first use, so a start-up that only reads never imports httpx
(with its CLI extras that is ~0.1 s of a ~0.6 s start)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import h11
from pydantic import SecretStr, ValidationError

from layers_tui import __version__
from layers_tui.clock import Clock, SystemClock
from layers_tui.models import (
    AdAccount,
    ApiModel,
    AuthorizeLink,
    ContentHealth,
    OAuthStatus,
    Page,
    Project,
    RevokeResult,
    SocialAccount,
    WhoAmI,
    parse_items,
)

from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    InvalidResponseError,
    OutcomeUnknownError,
)
from .lean import (
    LeanConnectError,
    LeanDropped,
    LeanGetter,
    LeanReadTimeout,
    LeanResponse,
    proxy_applies,
    query_string,
    tls_context,
)
from .paging import collect_pages, follow_pages
from .retry import USER_ACTION_BACKOFF, Backoff, is_retryable_status, parse_retry_after, retry_wait

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("layers_tui.api")
DEFAULT_BASE_URL = "https://api.layers.com"
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 15.0  # seconds; writes like reads, pool like connect
_KEY_SHAPE = re.compile(r"^lp_(live|test)_([A-Za-z0-9]+)_.+$")


def mask_key(key: str | SecretStr | None) -> str:
    """`lp_live_<keyid>_…`: the log-safe part of a key, never the secret."""
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    if not raw:
        return "(none)"
    match = _KEY_SHAPE.match(raw)
    if match is None:
        return "(set; not in lp_<env>_<keyid>_<secret> form)"
    return f"lp_{match.group(1)}_{match.group(2)}_…"


def key_env(key: str | SecretStr | None) -> str | None:
    """`live` or `test` from the key prefix (used only for the badge), else None."""
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    match = _KEY_SHAPE.match(raw or "")
    return match.group(1) if match else None


def key_id(key: str | SecretStr | None) -> str | None:
    """`live-<keyid>` (not secret): names things that belong to one key, like its flows."""
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    match = _KEY_SHAPE.match(raw or "")
    return f"{match.group(1)}-{match.group(2)}" if match else None


@dataclass(frozen=True)
class RateLimitInfo:
    """The bucket state the server last reported (headers on every response)."""

    bucket: str
    limit: int | None
    remaining: int | None
    reset_seconds: float | None
    seen_at: float


RequestObserver = Callable[[str, str, int | None], None]


class LayersClient:
    """Typed access to the Partner API with retries, deadlines and masked secrets.

    Create it inside the running event loop and close it with `aclose()` (or `async with`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        timeout: httpx.Timeout | None = None,
        deadline: float = 30.0,
        max_retries: int = 2,
        backoff: Backoff = USER_ACTION_BACKOFF,
        jitter: Callable[[float, float], float] = random.uniform,
        observer: RequestObserver | None = None,
        on_rate_limit: Callable[[RateLimitInfo], None] | None = None,
    ) -> None:
        self.api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.base_url = base_url.rstrip("/")
        self.clock = clock or SystemClock()
        self.deadline = deadline
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self._jitter = jitter
        self._observer = observer
        self._on_rate_limit = on_rate_limit
        self.rate_limits: dict[str, RateLimitInfo] = {}
        self.last_request_id: str | None = None
        url = urlsplit(self.base_url)
        self._scheme, self._hostname = url.scheme, url.hostname or ""
        # A base URL with a path (https://host/api) prefixes every request path.
        self._path_prefix = url.path.rstrip("/")
        self._transport = transport
        self._timeout = timeout
        self._lean = self._lean_getter(url.port) if transport is None else None
        self._httpx_client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        """The httpx client, made on first use (see the module's docstring)."""
        if self._httpx_client is None:
            import httpx

            self._httpx_client = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self._transport,
                timeout=self._timeout
                or httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT, pool=CONNECT_TIMEOUT),
                auth=_bearer_auth(self.api_key),
                follow_redirects=False,
                # Plain http (the sandbox on loopback) needs no CA bundle: loading one costs
                # ~40 ms.
                verify=tls_context() if self._scheme == "https" else False,
                headers={"User-Agent": f"layers-tui/{__version__}", "Accept": "application/json"},
            )
        return self._httpx_client

    def __repr__(self) -> str:
        return f"LayersClient(base_url={self.base_url!r}, key={mask_key(self.api_key)!r})"

    async def __aenter__(self) -> LayersClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _lean_getter(self, port: int | None) -> LeanGetter | None:
        """The fast path for GETs, unless a proxy is configured (then httpx handles all)."""
        scheme, host = self._scheme, self._hostname
        if scheme not in ("http", "https") or not host or proxy_applies(scheme, host):
            return None
        timeout = self._timeout
        return LeanGetter(
            scheme,
            host,
            port or (443 if scheme == "https" else 80),
            [("User-Agent", f"layers-tui/{__version__}"), ("Accept", "application/json")],
            connect_timeout=(timeout.connect if timeout else None) or CONNECT_TIMEOUT,
            read_timeout=(timeout.read if timeout else None) or READ_TIMEOUT,
            ssl_factory=tls_context if scheme == "https" else None,
        )

    async def aclose(self) -> None:
        if self._lean is not None:
            await self._lean.aclose()
        if self._httpx_client is not None:
            await self._httpx_client.aclose()

    # -- transport ---------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        max_retries: int | None = None,
    ) -> Any:
        """Send one logical request (with retries) and return its decoded JSON body."""
        retries = self.max_retries if max_retries is None else max(0, max_retries)
        replay_safe = method in ("GET", "HEAD") or idempotency_key is not None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._send_once(method, path, params, body, headers)
            except ApiError as error:
                landed = isinstance(error, OutcomeUnknownError)
                if (
                    attempt > retries
                    or (landed and not replay_safe)
                    or isinstance(error, ApiTimeoutError)
                    and not replay_safe
                ):
                    raise
                await self._wait(attempt, None, path, error.code)
                continue
            if 200 <= response.status_code < 300:
                return self._decode(response)
            error = self._error_from(response)
            # A 429 was never executed, so even an un-keyed write may be sent again.
            may_repeat = replay_safe or response.status_code == 429
            if (
                attempt > retries
                or not may_repeat
                or not is_retryable_status(response.status_code, error.code)
            ):
                raise error
            wait = retry_wait(
                error.retry_after, self.backoff.delay(attempt, self._jitter), self.backoff.cap
            )
            if wait is None:
                raise error
            await self._wait(attempt, wait, path, error.code)

    async def _wait(self, attempt: int, wait: float | None, path: str, reason: str) -> None:
        delay = wait if wait is not None else self.backoff.delay(attempt, self._jitter)
        log.info("retry %d for %s after %s in %.2fs", attempt, path, reason, delay)
        await self.clock.sleep(delay)

    async def _send_once(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        headers: dict[str, str],
    ) -> LeanResponse | httpx.Response:
        lean = self._lean is not None and method == "GET" and not headers
        try:
            async with asyncio.timeout(self.deadline):
                if lean:
                    response = await self._lean_get(path, params)
                else:
                    response = await self._http.request(
                        method, path, params=params, json=body, headers=headers
                    )
                    await response.aread()
        except TimeoutError:
            raise ApiTimeoutError(
                None,
                "TIMEOUT",
                f"No complete answer within {self.deadline:g}s from {self._host()}.",
            ) from None
        except Exception as error:
            failure = _transport_failure(error)
            if failure is None:
                raise
            self._observe(method, path, None)
            raise self._transport_error(failure, error) from None
        self._observe(method, path, response.status_code)
        self.last_request_id = response.headers.get("x-request-id")
        self._record_rate_limit(response)
        log.debug("%s %s -> %s [%s]", method, path, response.status_code, self.last_request_id)
        return response

    async def _lean_get(self, path: str, params: dict[str, Any] | None) -> LeanResponse:
        """A GET on the lean path (see `lean.py`)."""
        assert self._lean is not None
        target = self._path_prefix + path
        if params:
            target += "?" + query_string(params)
        auth = [("Authorization", f"Bearer {self.api_key.get_secret_value()}")]
        return await self._lean.get(target, auth)

    def _transport_error(self, failure: str, error: Exception) -> ApiError:
        host = self._host()
        if failure == "connect":
            if "CERTIFICATE_VERIFY_FAILED" in str(error) or "SSLCertVerification" in str(error):
                return ApiConnectionError(
                    None,
                    "TLS_UNTRUSTED",
                    f"Cannot verify the TLS certificate of {host}: if a proxy or "
                    "company CA re-signs traffic, point SSL_CERT_FILE at its bundle.",
                )
            return ApiConnectionError(
                None,
                "CONNECTION_FAILED",
                f"Cannot reach {host}: check the base URL and your network.",
            )
        if failure == "timeout":
            return ApiTimeoutError(None, "TIMEOUT", f"{host} stopped answering (timed out).")
        if failure == "dropped":
            return OutcomeUnknownError(
                None,
                "CONNECTION_DROPPED",
                f"The connection to {host} broke before "
                "the answer arrived; refresh to see whether the change happened.",
            )
        return ApiConnectionError(
            None, "CONNECTION_FAILED", f"Request to {host} failed ({type(error).__name__})."
        )

    def _observe(self, method: str, path: str, status: int | None) -> None:
        if self._observer is not None:
            self._observer(method, path, status)

    def _host(self) -> str:
        return self._hostname or self.base_url

    def _record_rate_limit(self, response: LeanResponse | httpx.Response) -> None:
        bucket = response.headers.get("x-ratelimit-endpoint-class")
        if not bucket:
            return
        self.rate_limits[bucket] = RateLimitInfo(
            bucket=bucket,
            limit=_int(response.headers.get("x-ratelimit-limit")),
            remaining=_int(response.headers.get("x-ratelimit-remaining")),
            reset_seconds=parse_retry_after(response.headers.get("x-ratelimit-reset")),
            seen_at=self.clock.monotonic(),
        )
        if self._on_rate_limit is not None:
            self._on_rate_limit(self.rate_limits[bucket])

    def _decode(self, response: LeanResponse | httpx.Response) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise InvalidResponseError(
                response.status_code,
                "INVALID_RESPONSE",
                "The server sent a response that is not valid JSON.",
                response.headers.get("x-request-id"),
            ) from None

    def _error_from(self, response: LeanResponse | httpx.Response) -> ApiError:
        request_id = response.headers.get("x-request-id")
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
        try:
            payload = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            payload = None
        envelope = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(envelope, dict) and isinstance(envelope.get("code"), str):
            message = envelope.get("message")
            details = envelope.get("details")
            return ApiError(
                response.status_code,
                envelope["code"],
                message if isinstance(message, str) else "",
                envelope.get("requestId")
                if isinstance(envelope.get("requestId"), str)
                else request_id,
                details if isinstance(details, dict) else None,
                retry_after,
            )
        snippet = response.text[:120].strip().replace("\n", " ") if response.content else ""
        code = {429: "RATE_LIMITED", 502: "BAD_GATEWAY", 503: "UNAVAILABLE"}.get(
            response.status_code, "HTTP_ERROR"
        )
        message = f"HTTP {response.status_code} without an error envelope"
        if snippet:
            message += f": {snippet}"
        return InvalidResponseError(
            response.status_code, code, message, request_id, None, retry_after
        )

    def _model(self, model: type[Any], data: Any) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError:
            raise InvalidResponseError(
                200,
                "INVALID_RESPONSE",
                f"The server's {model.__name__} did not match the contract.",
                self.last_request_id,
            ) from None

    def _page(self, model: type[ApiModel], data: Any) -> Page[Any]:
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise InvalidResponseError(
                200, "INVALID_RESPONSE", "Expected a list of items.", self.last_request_id
            )
        items, invalid = parse_items(model, data["items"])
        cursor = data.get("nextCursor")
        return Page[Any](
            items=items,
            next_cursor=cursor if isinstance(cursor, str) and cursor else None,
            invalid=invalid,
        )

    # -- endpoints ---------------------------------------------------------------------------
    async def whoami(self) -> WhoAmI:
        return self._model(WhoAmI, await self.request("GET", "/v1/whoami"))

    async def list_projects(
        self, cursor: str | None = None, limit: int = 200, search: str | None = None
    ) -> Page[Project]:
        params = _drop_none({"cursor": cursor, "limit": limit, "search": search})
        return self._page(Project, await self.request("GET", "/v1/projects", params=params))

    async def iter_projects(self, limit: int = 200) -> AsyncIterator[Page[Project]]:
        async for page in follow_pages(lambda cursor: self.list_projects(cursor, limit)):
            yield page

    async def get_project(self, project_id: str) -> Project:
        return self._model(Project, await self.request("GET", f"/v1/projects/{project_id}"))

    async def create_project(
        self,
        name: str,
        timezone: str,
        *,
        customer_external_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Project:
        body = _drop_none(
            {"name": name, "timezone": timezone, "customerExternalId": customer_external_id}
        )
        data = await self.request(
            "POST", "/v1/projects", body=body, idempotency_key=idempotency_key or str(uuid.uuid4())
        )
        return self._model(Project, data)

    async def list_social_accounts(
        self,
        project_id: str,
        cursor: str | None = None,
        limit: int = 200,
        status: str | None = None,
        platform: str | None = None,
    ) -> Page[SocialAccount]:
        params = _drop_none(
            {"cursor": cursor, "limit": limit, "status": status, "platform": platform}
        )
        data = await self.request(
            "GET", f"/v1/projects/{project_id}/social-accounts", params=params
        )
        return self._page(SocialAccount, data)

    async def all_social_accounts(self, project_id: str) -> Page[SocialAccount]:
        """Every page merged into one (items and invalid rows)."""
        return await collect_pages(lambda c: self.list_social_accounts(project_id, c))

    async def social_oauth_url(
        self, project_id: str, platform: str, return_url: str
    ) -> AuthorizeLink:
        data = await self.request(
            "POST",
            f"/v1/projects/{project_id}/social/oauth-url",
            body={"platform": platform, "returnUrl": return_url},
        )
        return self._model(AuthorizeLink, data)

    async def social_reauth_url(
        self, project_id: str, social_account_id: str, return_url: str
    ) -> AuthorizeLink:
        data = await self.request(
            "POST",
            f"/v1/projects/{project_id}/social/reauth-url",
            body={"socialAccountId": social_account_id, "returnUrl": return_url},
        )
        return self._model(AuthorizeLink, data)

    async def oauth_status(self, state: str, *, max_retries: int | None = None) -> OAuthStatus:
        data = await self.request(
            "GET", f"/v1/social/oauth-status/{state}", max_retries=max_retries
        )
        return self._model(OAuthStatus, data)

    async def social_health(self, social_account_id: str) -> ContentHealth:
        data = await self.request("GET", f"/v1/social-accounts/{social_account_id}/health")
        return self._model(ContentHealth, data)

    async def revoke_social_account(self, social_account_id: str) -> RevokeResult:
        data = await self.request("DELETE", f"/v1/social-accounts/{social_account_id}")
        return self._model(RevokeResult, data)

    async def list_ad_accounts(
        self, project_id: str, platforms: list[str] | None = None
    ) -> Page[AdAccount]:
        params = {"platforms": ",".join(platforms)} if platforms else None
        data = await self.request(
            "GET", f"/v1/projects/{project_id}/ads/ad-accounts", params=params
        )
        return self._page(AdAccount, data)

    async def ads_oauth_url(
        self, project_id: str, platform: str, return_url: str, partner_state: str | None = None
    ) -> AuthorizeLink:
        body = _drop_none({"platform": platform, "returnUrl": return_url, "state": partner_state})
        data = await self.request(
            "POST", f"/v1/projects/{project_id}/ads/ad-accounts/oauth-url", body=body
        )
        if isinstance(data, dict) and "url" in data:
            data = {**data, "authorizeUrl": data["url"]}
        return self._model(AuthorizeLink, data)

    async def sandbox_advance_clock(self, seconds: float) -> None:
        """Sandbox only: move the emulator's clock forward (links and tokens age at once)."""
        await self.request("POST", "/sandbox/clock/advance", body={"seconds": seconds})

    async def sandbox_consent(self, authorize_url: str, decision: str) -> str:
        """Sandbox only: answer the consent page as the account owner would. Returns where
        the page redirected to (the return URL, with `layers_oauth_error` on failure)."""
        # The consent page lives on this sandbox: take only the path from the link, so a link
        # minted before a restart on another port still reaches it.
        import httpx

        page = httpx.URL(self.base_url).copy_with(path=httpx.URL(authorize_url).path)
        try:
            response = await self._http.post(page, data={"decision": decision}, auth=None)
        except httpx.HTTPError as error:
            raise ApiConnectionError(
                None, "CONNECTION_FAILED", f"Consent page unreachable ({type(error).__name__})."
            ) from None
        if response.status_code != 303:
            raise ApiError(
                response.status_code,
                "CONSENT_FAILED",
                f"The consent page answered HTTP {response.status_code}.",
            )
        return response.headers.get("location", "")


def _bearer_auth(key: SecretStr) -> httpx.Auth:
    import httpx

    class BearerAuth(httpx.Auth):
        def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
            request.headers["Authorization"] = f"Bearer {key.get_secret_value()}"
            yield request

        def __repr__(self) -> str:
            return "BearerAuth(****)"

    return BearerAuth()


def _transport_failure(error: Exception) -> str | None:
    """How a request failed below HTTP, on either path: `connect` (nothing was sent),
    `timeout`, `dropped` (it may have landed) or `other`; None for anything else (a bug)."""
    if isinstance(error, LeanConnectError):
        return "connect"
    if isinstance(error, LeanReadTimeout):
        return "timeout"
    if isinstance(error, LeanDropped | h11.ProtocolError | OSError):
        return "dropped"
    if "httpx" not in sys.modules:  # then no httpx exception can have been raised
        return None
    import httpx

    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect"
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "dropped"
    if isinstance(error, httpx.HTTPError):
        return "other"
    return None


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

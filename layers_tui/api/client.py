"""LayersClient: one method per Partner API endpoint, over one httpx.AsyncClient.

Every request goes through the same client (made on first use, inside the running loop):
one pool, one proxy decision (`HTTP(S)_PROXY`, `NO_PROXY`), TLS as httpx verifies it
(`SSL_CERT_FILE` / `SSL_CERT_DIR` honoured). Only `ApiError`s leave it: transport failures,
bodies past the cap and undecodable answers are all mapped onto that family.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
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

from .body import ACCEPT_ENCODING, MAX_BODY_BYTES, BodyReader, BodyTooLarge, BodyUndecodable
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    InvalidResponseError,
    OutcomeUnknownError,
)
from .paging import collect_pages, follow_pages
from .retry import USER_ACTION_BACKOFF, Backoff, is_retryable_status, parse_retry_after, retry_wait

log = logging.getLogger("layers_tui.api")
DEFAULT_BASE_URL = "https://api.layers.com"
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 15.0  # seconds; writes like reads
# Enough for the widest fan-out (concurrency 64, two lists a project) without a queue; idle
# connections are kept long enough to carry the 5 s poll cadence.
LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0)
_KEY_SHAPE = re.compile(r"^lp_(live|test)_([A-Za-z0-9]+)_.+$")
_SENDABLE = re.compile(r"^[\x21-\x7e]+$")  # what an HTTP header value can carry as is


def mask_key(key: str | SecretStr | None) -> str:
    """`lp_live_<keyid>_…`: the log-safe part of a key, never the secret."""
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    if not raw:
        return "(none)"
    match = _KEY_SHAPE.match(raw.strip())
    if match is None:
        return "(set; not in lp_<env>_<keyid>_<secret> form)"
    return f"lp_{match.group(1)}_{match.group(2)}_…"


def key_env(key: str | SecretStr | None) -> str | None:
    """`live` or `test` from the key prefix (used only for the badge), else None."""
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    match = _KEY_SHAPE.match((raw or "").strip())
    return match.group(1) if match else None


def key_id(key: str | SecretStr | None) -> str | None:
    """`live-<keyid>` (not secret): names things that belong to one key, like its flows."""
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    match = _KEY_SHAPE.match((raw or "").strip())
    return f"{match.group(1)}-{match.group(2)}" if match else None


def segment(value: str) -> str:
    """One URL path segment: every reserved, space or non-ASCII character percent-encoded,
    and `.`/`..` too, which URL parsers would otherwise resolve away."""
    if not value:
        raise ApiError(None, "INVALID_ID", "An empty id names nothing.")
    quoted = quote(value, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def without_userinfo(url: str) -> str:
    """The URL with any `user:password@` removed (it is never sent, shown or logged)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class RateLimitInfo:
    """The bucket state the server last reported (headers on every response)."""

    bucket: str
    limit: int | None
    remaining: int | None
    reset_seconds: float | None
    seen_at: float


@dataclass(frozen=True)
class Reply:
    """A complete response: status, headers and the body as read (capped, inflated)."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class _Final(Exception):
    """Carries an ApiError that no retry can change (a local problem, an unreadable body)."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.code)
        self.error = error


# Told of every attempt: (method, path as sent, HTTP status or None when no answer came).
RequestObserver = Callable[[str, str, int | None], None]

# The path templates of the endpoints `request` is used for, so an observer can count
# requests by endpoint without an id ever becoming part of a label (see endpoint_template).
ENDPOINTS = (
    "/v1/whoami",
    "/v1/projects",
    "/v1/projects/{id}",
    "/v1/projects/{id}/social-accounts",
    "/v1/projects/{id}/social/oauth-url",
    "/v1/projects/{id}/social/reauth-url",
    "/v1/social/oauth-status/{id}",
    "/v1/social-accounts/{id}",
    "/v1/social-accounts/{id}/health",
    "/v1/projects/{id}/ads/ad-accounts",
    "/v1/projects/{id}/ads/ad-accounts/oauth-url",
    "/sandbox/clock/advance",
)
OTHER_ENDPOINT = "other"
_TEMPLATES = sorted(
    ((template, template.split("/")) for template in ENDPOINTS),
    key=lambda item: item[0].count("{id}"),  # a literal segment beats an id
)


def endpoint_template(path: str) -> str:
    """The template in ENDPOINTS that `path` (as sent; a query string is ignored) is an
    instance of, else OTHER_ENDPOINT: a bounded set of values whatever the ids are."""
    parts = path.split("?", 1)[0].split("/")
    for template, pattern in _TEMPLATES:
        if len(pattern) == len(parts) and all(
            want == "{id}" and got != "" or want == got
            for want, got in zip(pattern, parts, strict=True)
        ):
            return template
    return OTHER_ENDPOINT


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
        raw_key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self.api_key = SecretStr(raw_key.strip())
        self.base_url = without_userinfo(base_url).rstrip("/")
        self.clock = clock or SystemClock()
        self.deadline = deadline
        self.max_retries = max(0, max_retries)
        self.backoff = backoff
        self._jitter = jitter
        self._observer = observer
        self._on_rate_limit = on_rate_limit
        self.rate_limits: dict[str, RateLimitInfo] = {}
        self.last_request_id: str | None = None
        try:
            url = urlsplit(self.base_url)
            self._scheme, self._hostname = url.scheme, url.hostname or ""
        except ValueError:
            self._scheme, self._hostname = "", ""
        self._transport = transport
        self._timeout = timeout or httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT, pool=None)
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"LayersClient(base_url={self.base_url!r}, key={mask_key(self.api_key)!r})"

    async def __aenter__(self) -> LayersClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        """The one httpx client, made on the first request (inside the running loop)."""
        if self._client is not None:
            return self._client
        key = self.api_key.get_secret_value()
        if not _SENDABLE.match(key):
            raise _Final(
                ApiError(
                    None,
                    "INVALID_API_KEY",
                    "The API key contains characters an HTTP header cannot carry (spaces, "
                    "control or non-ASCII characters): check the api_key setting.",
                )
            )
        try:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                transport=self._transport,
                timeout=self._timeout,
                limits=LIMITS,
                follow_redirects=False,
                # Plain http (the sandbox on loopback) needs no CA bundle.
                verify=self._scheme == "https",
                headers={
                    "User-Agent": f"layers-tui/{__version__}",
                    "Accept": "application/json",
                    "Accept-Encoding": ACCEPT_ENCODING,
                    "Authorization": f"Bearer {key}",
                },
            )
        except OSError as error:  # ssl.SSLError included: the CA bundle could not be loaded
            raise _Final(_tls_setup_error(error)) from None
        except Exception as error:
            raise _Final(self._unexpected(error)) from error
        return self._client

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
            except _Final as final:
                raise final.error from final.error.__cause__
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
    ) -> Reply:
        try:
            async with asyncio.timeout(self.deadline):
                http = self._http()
                try:
                    request = http.build_request(
                        method, path, params=params, json=body, headers=headers
                    )
                except Exception as error:  # an unusable base URL, say
                    raise _Final(self._unexpected(error)) from error
                reply = await self._exchange(http, request)
        except TimeoutError:
            self._observe(method, path, None)
            raise ApiTimeoutError(
                None,
                "TIMEOUT",
                f"No complete answer within {self.deadline:g}s from {self._host()}.",
            ) from None
        except (ApiError, _Final):
            self._observe(method, path, None)
            raise
        self._observe(method, path, reply.status_code)
        self.last_request_id = reply.headers.get("x-request-id")
        self._record_rate_limit(reply)
        log.debug("%s %s -> %s [%s]", method, path, reply.status_code, self.last_request_id)
        return reply

    async def _exchange(self, http: httpx.AsyncClient, request: httpx.Request) -> Reply:
        """Send one request and read its body, never past the cap. Only calls into httpx are
        guarded (a failure there is the network's or the library's, mapped to an ApiError);
        our own code around them is not, so a bug in it stays visible."""
        try:
            response = await http.send(request, stream=True)
        except Exception as error:
            raise self._transport_error(error) from error
        try:
            status, request_id = response.status_code, response.headers.get("x-request-id")
            try:
                reader = BodyReader(response.headers.get_list("content-encoding", True))
            except BodyUndecodable as problem:
                raise _Final(self._undecodable(status, request_id, str(problem))) from None
            if response.is_stream_consumed:  # a transport that answered from memory
                content = response.content
                if len(content) > MAX_BODY_BYTES:
                    raise _Final(self._too_large(status, request_id))
                return Reply(status, response.headers, content)
            chunks = response.aiter_raw()
            while True:
                try:
                    raw = await anext(chunks)
                except StopAsyncIteration:
                    break
                except Exception as error:
                    raise self._transport_error(error) from error
                try:
                    reader.feed(raw)
                except BodyTooLarge:
                    raise _Final(self._too_large(status, request_id)) from None
                except BodyUndecodable as problem:
                    raise _Final(self._undecodable(status, request_id, str(problem))) from None
            try:
                content = reader.finish()
            except BodyUndecodable as problem:
                raise _Final(self._undecodable(status, request_id, str(problem))) from None
            except BodyTooLarge:
                raise _Final(self._too_large(status, request_id)) from None
        finally:
            with contextlib.suppress(Exception):
                await response.aclose()
        return Reply(status, response.headers, content)

    def _too_large(self, status: int, request_id: str | None) -> ApiError:
        return InvalidResponseError(
            status,
            "INVALID_RESPONSE",
            f"The response from {self._host()} is larger than "
            f"{MAX_BODY_BYTES // (1024 * 1024)} MiB; stopped reading it.",
            request_id,
        )

    def _undecodable(self, status: int, request_id: str | None, why: str) -> ApiError:
        return InvalidResponseError(
            status,
            "INVALID_RESPONSE",
            f"The response from {self._host()} could not be decoded ({why}).",
            request_id,
        )

    def _transport_error(self, error: Exception) -> ApiError:
        host = self._host()
        failure = _transport_failure(error)
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
        if failure == "other":
            return ApiConnectionError(
                None, "CONNECTION_FAILED", f"Request to {host} failed ({type(error).__name__})."
            )
        raise _Final(self._unexpected(error))

    def _unexpected(self, error: BaseException) -> ApiError:
        """Something no failure mode explains: logged with its traceback, shown typed."""
        log.error("unexpected failure in the HTTP client", exc_info=error)
        failure = ApiConnectionError(
            None,
            "CLIENT_FAILURE",
            f"The request to {self._host()} failed inside the HTTP client "
            f"({type(error).__name__}); see the log for details.",
        )
        failure.__cause__ = error  # kept for tracebacks and tests; never shown to users
        return failure

    def _observe(self, method: str, path: str, status: int | None) -> None:
        if self._observer is not None:
            self._observer(method, path, status)

    def _host(self) -> str:
        return self._hostname or self.base_url

    def _record_rate_limit(self, response: Reply) -> None:
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

    def _decode(self, response: Reply) -> Any:
        try:
            return json.loads(response.content)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise InvalidResponseError(
                response.status_code,
                "INVALID_RESPONSE",
                "The server sent a response that is not valid JSON (or nested too deeply).",
                response.headers.get("x-request-id"),
            ) from None

    def _error_from(self, response: Reply) -> ApiError:
        request_id = response.headers.get("x-request-id")
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
        try:
            payload = json.loads(response.content)
        except (ValueError, RecursionError):
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
        except (ValidationError, RecursionError):
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
        return self._model(
            Project, await self.request("GET", f"/v1/projects/{segment(project_id)}")
        )

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
            "GET", f"/v1/projects/{segment(project_id)}/social-accounts", params=params
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
            f"/v1/projects/{segment(project_id)}/social/oauth-url",
            body={"platform": platform, "returnUrl": return_url},
        )
        return self._model(AuthorizeLink, data)

    async def social_reauth_url(
        self, project_id: str, social_account_id: str, return_url: str
    ) -> AuthorizeLink:
        data = await self.request(
            "POST",
            f"/v1/projects/{segment(project_id)}/social/reauth-url",
            body={"socialAccountId": social_account_id, "returnUrl": return_url},
        )
        return self._model(AuthorizeLink, data)

    async def oauth_status(self, state: str, *, max_retries: int | None = None) -> OAuthStatus:
        data = await self.request(
            "GET", f"/v1/social/oauth-status/{segment(state)}", max_retries=max_retries
        )
        return self._model(OAuthStatus, data)

    async def social_health(self, social_account_id: str) -> ContentHealth:
        data = await self.request("GET", f"/v1/social-accounts/{segment(social_account_id)}/health")
        return self._model(ContentHealth, data)

    async def revoke_social_account(self, social_account_id: str) -> RevokeResult:
        data = await self.request("DELETE", f"/v1/social-accounts/{segment(social_account_id)}")
        return self._model(RevokeResult, data)

    async def list_ad_accounts(
        self, project_id: str, platforms: list[str] | None = None
    ) -> Page[AdAccount]:
        params = {"platforms": ",".join(platforms)} if platforms else None
        data = await self.request(
            "GET", f"/v1/projects/{segment(project_id)}/ads/ad-accounts", params=params
        )
        return self._page(AdAccount, data)

    async def ads_oauth_url(
        self, project_id: str, platform: str, return_url: str, partner_state: str | None = None
    ) -> AuthorizeLink:
        body = _drop_none({"platform": platform, "returnUrl": return_url, "state": partner_state})
        data = await self.request(
            "POST", f"/v1/projects/{segment(project_id)}/ads/ad-accounts/oauth-url", body=body
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
        # minted before a restart on another port still reaches it. The key is not sent.
        try:
            page = httpx.URL(self.base_url).copy_with(path=httpx.URL(authorize_url).path)
        except Exception:
            raise ApiError(None, "CONSENT_FAILED", "The consent link is not a URL.") from None
        try:
            http = self._http()
            request = http.build_request("POST", page, data={"decision": decision})
            del request.headers["Authorization"]
            response = await self._exchange(http, request)
        except _Final as final:
            raise final.error from final.error.__cause__
        if response.status_code != 303:
            raise ApiError(
                response.status_code,
                "CONSENT_FAILED",
                f"The consent page answered HTTP {response.status_code}.",
            )
        return response.headers.get("location", "")


def _transport_failure(error: Exception) -> str | None:
    """How a request failed below HTTP: `connect` (nothing was sent), `timeout`, `dropped`
    (it may have landed) or `other`; None for anything httpx does not raise by design."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect"
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "dropped"
    if isinstance(error, httpx.HTTPError):
        return "other"
    return None


def _tls_setup_error(error: OSError) -> ApiError:
    """The CA certificates could not be loaded: a local certificate problem, named."""
    for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        value = os.environ.get(variable)
        if value:
            reason = "missing" if isinstance(error, FileNotFoundError) else "unusable"
            return ApiConnectionError(
                None,
                "TLS_UNTRUSTED",
                f"{variable} names {value!r}, which is {reason} as a CA bundle "
                f"({type(error).__name__}): point it at a PEM file of certificates or unset it.",
            )
    return ApiConnectionError(
        None,
        "TLS_UNTRUSTED",
        f"Cannot load the CA certificates to verify TLS ({type(error).__name__}).",
    )


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

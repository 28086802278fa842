"""Delivery of watch's alerts to the `[[notify]]` targets of the config. No Textual.

Three kinds: `command` (a program, the event as one JSON document on its stdin), `webhook`
(a JSON POST signed the Standard Webhooks way) and `apprise` (any Apprise URL; the optional
extra `layers-tui[notify]` installs it). A delivery that fails or times out is reported and
logged, never raised into watch; secrets (the webhook secret, URLs with tokens) are never
logged or printed.

Retries: a failure that may pass (a command's nonzero exit or timeout; a webhook's network
error, timeout, 408, 429 or 5xx; Apprise not sending) is tried again after `RetryPolicy.delays`
(10 s, then 60 s: three attempts), a 429's Retry-After honoured up to `retry_after_cap`. The
waits are `await`ed sleeps in the alert's own task, so they hold up neither the refresh nor
the other targets (watch sends one alert at a time per target, so later alerts to the same
target wait their turn, in order). What cannot pass (a program that does not exist, a 4xx) is
not retried. After the last attempt the alert is lost: one log entry, and `deliver` returns
the reason (watch prints it as one line on stderr). A webhook keeps its `webhook-id` across
attempts, so the receiver can drop a duplicate (Standard Webhooks).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from layers_tui.alerts import Alert, AlertPolicy, QuietHours, RateLimit
from layers_tui.clock import Clock, SystemClock
from layers_tui.config import ConfigError, NotifySpec
from layers_tui.domain.status import Severity
from layers_tui.text import safe

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("layers_tui.notify")

INSTALL_HINT = "pip install 'layers-tui[notify]'"
USER_AGENT = "layers-tui-alerts"


class DeliveryError(Exception):
    """Why one delivery failed, in words safe to log (no secret); whether another attempt
    may succeed, and the wait the receiver asked for (a 429's Retry-After, in seconds)."""

    def __init__(
        self, message: str, retryable: bool = True, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """Waits before the second, third... attempt; a receiver's Retry-After is honoured (never
    retried sooner) up to `retry_after_cap`, beyond which the alert is not retried."""

    delays: tuple[float, ...] = (10.0, 60.0)
    retry_after_cap: float = 300.0

    @property
    def attempts(self) -> int:
        return len(self.delays) + 1

    def wait_before(self, retry: int, error: DeliveryError) -> float | None:
        """Seconds before retry number `retry` (1-based) after `error`; None: give up."""
        if not error.retryable or retry > len(self.delays):
            return None
        wait = self.delays[retry - 1]
        if error.retry_after is not None:
            if error.retry_after > self.retry_after_cap:
                return None
            wait = max(wait, error.retry_after)
        return wait


class Target(Protocol):
    name: str

    async def send(self, event: dict[str, Any]) -> None: ...


def event_body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def webhook_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the key inside `whsec_<base64>`
    (the Standard Webhooks scheme)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


class CommandTarget:
    """Runs `argv` with the event as JSON on stdin; a nonzero exit or a timeout fails."""

    def __init__(self, name: str, argv: Sequence[str], timeout: float) -> None:
        self.name = name
        self.argv = list(argv)
        self.timeout = timeout

    async def send(self, event: dict[str, Any]) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            # A missing or forbidden program stays so; anything else (EAGAIN...) may pass.
            permanent = isinstance(error, FileNotFoundError | PermissionError | NotADirectoryError)
            raise DeliveryError(
                f"cannot run {safe(self.argv[0], 80)!r}: {error.strerror or error}",
                retryable=not permanent,
            ) from None
        try:
            async with asyncio.timeout(self.timeout):
                _, errors = await process.communicate(event_body(event) + b"\n")
        except TimeoutError:
            process.kill()
            await process.wait()
            raise DeliveryError(f"timed out after {self.timeout:g} s (killed)") from None
        if process.returncode != 0:
            tail = safe(errors.decode("utf-8", "replace").strip()[-200:], 200)
            raise DeliveryError(f"exit status {process.returncode}" + (f": {tail}" if tail else ""))


class WebhookTarget:
    """POSTs the event as JSON with webhook-id, webhook-timestamp and webhook-signature."""

    def __init__(
        self,
        name: str,
        url: str,
        secret: str,
        timeout: float,
        client: Callable[[], httpx.AsyncClient],
        clock: Clock,
    ) -> None:
        self.name = name
        self._url = url
        self._secret = secret
        self.timeout = timeout
        self._client = client
        self.clock = clock

    def __repr__(self) -> str:  # never the URL (it may carry a token) or the secret
        return f"WebhookTarget({self.name!r})"

    def headers(self, event: dict[str, Any], body: bytes) -> dict[str, str]:
        message_id = str(event["id"])
        timestamp = int(self.clock.now().timestamp())
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhook_signature(self._secret, message_id, timestamp, body),
        }

    async def send(self, event: dict[str, Any]) -> None:
        import httpx

        body = event_body(event)
        try:
            response = await self._client().post(
                self._url, content=body, headers=self.headers(event, body), timeout=self.timeout
            )
        except httpx.TimeoutException:
            raise DeliveryError(f"timed out after {self.timeout:g} s") from None
        except httpx.HTTPError as error:
            raise DeliveryError(f"request failed ({type(error).__name__})") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429:
            from layers_tui.api.retry import parse_retry_after

            hint = parse_retry_after(response.headers.get("retry-after"), self.clock.now())
            said = f", Retry-After {hint:g} s" if hint is not None else ""
            raise DeliveryError(f"answered HTTP 429{said}", retry_after=hint)
        raise DeliveryError(f"answered HTTP {status}", retryable=status == 408 or status >= 500)


class AppriseTarget:
    """Any Apprise URL; `apprise` is the Apprise object holding it (injected in tests)."""

    def __init__(self, name: str, apprise: Any, timeout: float) -> None:
        self.name = name
        self._apprise = apprise
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"AppriseTarget({self.name!r})"

    async def send(self, event: dict[str, Any]) -> None:
        title = f"layers-tui: {event.get('type', 'alert')}"
        body = str(event.get("summary", ""))
        try:
            async with asyncio.timeout(self.timeout):
                sent = await asyncio.to_thread(self._apprise.notify, body=body, title=title)
        except TimeoutError:
            raise DeliveryError(f"timed out after {self.timeout:g} s") from None
        if not sent:
            raise DeliveryError("Apprise reported the notification as not sent")


def policy_of(spec: NotifySpec) -> AlertPolicy:
    target = spec.target
    return AlertPolicy(
        name=spec.name,
        min_duration=target.min_duration,
        quiet_hours=QuietHours.parse(target.quiet_hours) if target.quiet_hours else None,
        rate_limit=RateLimit.parse(target.rate_limit) if target.rate_limit else None,
        min_severity=Severity[target.min_severity.upper()],
        stale_after=target.stale_after,
    )


def load_apprise(spec: NotifySpec, factory: Callable[[], Any] | None = None) -> Any:
    """An Apprise object holding the target's URL; a ConfigError naming the file, line and
    key when the package is missing or the URL is not one Apprise knows (never echoed)."""
    if factory is None:
        try:
            import apprise
        except ImportError:
            raise ConfigError(
                f'kind = "apprise" needs the optional apprise package: {INSTALL_HINT}',
                spec.file,
                spec.line_of("kind"),
                spec.key("kind"),
            ) from None
        factory = apprise.Apprise
    notifier = factory()
    assert spec.target.url is not None
    if not notifier.add(spec.target.url.get_secret_value()):
        raise ConfigError(
            "is not a URL Apprise understands (see the Apprise wiki for the service's form)",
            spec.file,
            spec.line_of("url"),
            spec.key("url"),
        )
    return notifier


class Notifier:
    """The configured targets, by name, and the one HTTP client the webhooks share (made
    inside the running loop, on first use)."""

    def __init__(
        self,
        specs: Sequence[NotifySpec],
        clock: Clock | None = None,
        apprise_factory: Callable[[], Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self.targets: dict[str, Target] = {}
        self.policies: list[AlertPolicy] = []
        for spec in specs:
            self.targets[spec.name] = self._build(spec, apprise_factory)
            self.policies.append(policy_of(spec))

    def _build(self, spec: NotifySpec, apprise_factory: Callable[[], Any] | None) -> Target:
        target = spec.target
        if target.kind == "command":
            return CommandTarget(spec.name, target.command or [], target.timeout)
        if target.kind == "webhook":
            assert target.url is not None and target.secret is not None
            return WebhookTarget(
                spec.name,
                target.url.get_secret_value(),
                target.secret.get_secret_value(),
                target.timeout,
                self._client,
                self.clock,
            )
        return AppriseTarget(spec.name, load_apprise(spec, apprise_factory), target.timeout)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(transport=self._transport, follow_redirects=False)
        return self._http

    async def deliver(self, alert: Alert) -> str | None:
        """Send one alert, retrying what may pass (see RetryPolicy); None when sent, else
        why it was lost (safe to print: no URL, no secret)."""
        target = self.targets[alert.target]
        attempt = 0
        while True:
            attempt += 1
            try:
                await target.send(alert.event)
            except DeliveryError as error:
                wait = self.retry.wait_before(attempt, error)
                if wait is None:
                    return self._lost(alert, attempt, error)
                log.warning(
                    "alert to %s failed (attempt %d of %d): %s; trying again in %g s",
                    alert.target,
                    attempt,
                    self.retry.attempts,
                    error,
                    wait,
                )
            except Exception as error:  # a target's own bug must never end watch
                log.exception("alert to %s failed unexpectedly", alert.target)
                problem = DeliveryError(f"failed ({type(error).__name__})", retryable=False)
                return self._lost(alert, attempt, problem)
            else:
                log.info("alert sent to %s: %s", alert.target, alert.event.get("type"))
                return None
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:  # watch stopping: say what is dropped, then stop
                log.error(
                    "alert to %s lost: stopped while waiting to try again (%s)",
                    alert.target,
                    alert.event.get("id"),
                )
                raise

    def _lost(self, alert: Alert, attempts: int, error: DeliveryError) -> str:
        """Why the alert is lost, as watch prints it after "alert to NAME: "; logged too."""
        if attempts > 1:
            reason = f"lost after {attempts} attempts: {error}"
        elif not error.retryable or self.retry.attempts == 1:
            reason = f"lost (not retried): {error}"
        else:
            reason = f"lost (Retry-After over {self.retry.retry_after_cap:g} s): {error}"
        log.error("alert to %s (%s) %s", alert.target, alert.event.get("id"), reason)
        return reason

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def dry_run_line(alert: Alert) -> str:
    """What `watch --dry-run` prints instead of sending."""
    return f"dry-run: would alert {safe(alert.target, 60)}: {alert.summary}"

"""Signed webhook deliveries (contract §12), from a background thread.

The sandbox has one endpoint, given at start (`--webhook-url`, `--webhook-secret`). An event
is queued and the request that caused it returns at once; a worker thread POSTs the
envelope `{id, type, apiVersion, createdAt, data}` with `X-Layers-Event-Id`,
`X-Layers-Event-Type` and `X-Layers-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">`. A 2xx is delivered; a 4xx other than 429 is failed without a retry;
a 5xx, a 429 or a network error is retried on the contract's 8-attempt ladder (0 s, 30 s,
1 min, 5 min, 15 min, 1 h, 6 h, 24 h), then failed with `abandonedAt`. The event id is the
same on every attempt; `t` and the signature are made fresh for each.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .clock import SandboxClock, iso

if TYPE_CHECKING:
    import httpx

# Event type -> whether the sandbox emits it. `needs_reauth` is registered (subscribable) but,
# as the docs say today, never emitted: clients must poll for `reauth_required`.
EVENT_CATALOG = {"social_account.connected": True, "social_account.needs_reauth": False}
# Waits before attempts 2..8; attempt 1 is immediate.
RETRY_LADDER = (30.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 24 * 3600.0)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def check_webhook_url(url: str) -> str:
    """https, or http to a loopback host (dev only, as the contract allows)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook URL must be an absolute http(s) URL, not {url!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError("webhook URL must use https (http only for localhost)")
    return url


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Layers-Signature` value for one attempt."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass
class Delivery:
    """One event on its way to the endpoint (the contract's deliveries fields)."""

    id: str
    event_id: str
    event_type: str
    created_at: str
    body: bytes
    status: str = "pending"  # pending -> delivering -> delivered | failed
    attempts: int = 0
    next_retry_at: str | None = None
    delivered_at: str | None = None
    abandoned_at: str | None = None
    last_response_status: int | None = None
    last_response_at: str | None = None
    last_error_message: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "eventId": self.event_id,
            "eventType": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "nextRetryAt": self.next_retry_at,
            "deliveredAt": self.delivered_at,
            "abandonedAt": self.abandoned_at,
            "lastResponseStatus": self.last_response_status,
            "lastResponseAt": self.last_response_at,
            "lastErrorMessage": self.last_error_message,
            "createdAt": self.created_at,
        }


class WebhookDispatcher:
    """Queues events and delivers them from one daemon thread, so no request waits on it.

    `sleep` waits between attempts (default: an interruptible wait that `close()` ends);
    tests pass one that records the delay and advances the sandbox clock instead.
    `transport` is an httpx transport (tests: `httpx.MockTransport`)."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        clock: SandboxClock,
        new_id: Callable[[str], str],
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        ladder: tuple[float, ...] = RETRY_LADDER,
        timeout: float = 10.0,
    ) -> None:
        self.url = check_webhook_url(url)
        if not secret:
            raise ValueError("a webhook URL needs a signing secret (--webhook-secret)")
        self._secret = secret
        self._clock = clock
        self._new_id = new_id
        self._transport = transport
        self._stop = threading.Event()
        self._sleep = sleep or self._interruptible_sleep
        self._ladder = ladder
        self._timeout = timeout
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.deliveries: list[Delivery] = []

    def __repr__(self) -> str:  # never the secret
        return f"WebhookDispatcher(url={self.url!r})"

    def emit(self, event_type: str, data: dict[str, Any]) -> Delivery | None:
        """Queue an event for delivery and return at once; None for a type not emitted."""
        if event_type not in EVENT_CATALOG:
            raise ValueError(f"unknown webhook event type {event_type!r}")
        if not EVENT_CATALOG[event_type]:
            return None
        now = iso(self._clock.now())
        event_id = self._new_id("evt_")
        envelope = {
            "id": event_id,
            "type": event_type,
            "apiVersion": "v1",
            "createdAt": now,
            "data": data,
        }
        delivery = Delivery(
            id=self._new_id("dlv_"),
            event_id=event_id,
            event_type=event_type,
            created_at=now,
            body=json.dumps(envelope, separators=(",", ":")).encode(),
        )
        with self._lock:
            self.deliveries.append(delivery)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="layers-sandbox-webhooks", daemon=True
                )
                self._thread.start()
        self._queue.put(delivery)
        return delivery

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued delivery has finished (delivered or failed)."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(
                lambda: self._queue.unfinished_tasks == 0, timeout
            )

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _run(self) -> None:
        import httpx

        with httpx.Client(transport=self._transport, timeout=self._timeout) as http:
            while True:
                delivery = self._queue.get()
                try:
                    if delivery is None:
                        return
                    self._deliver(http, delivery)
                finally:
                    self._queue.task_done()

    def _deliver(self, http: httpx.Client, delivery: Delivery) -> None:
        import httpx

        delivery.status = "delivering"
        for attempt in range(len(self._ladder) + 1):
            if self._stop.is_set():
                return
            now = self._clock.now()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "layers-sandbox-webhooks",
                "X-Layers-Event-Id": delivery.event_id,
                "X-Layers-Event-Type": delivery.event_type,
                "X-Layers-Signature": signature(self._secret, int(now.timestamp()), delivery.body),
            }
            delivery.attempts = attempt + 1
            try:
                response = http.post(self.url, content=delivery.body, headers=headers)
            except httpx.HTTPError as error:
                delivery.last_response_status = None
                delivery.last_error_message = f"{type(error).__name__}: {error}"[:200]
                retry = True
            else:
                status = response.status_code
                delivery.last_response_status = status
                delivery.last_error_message = None if status < 300 else f"HTTP {status}"
                if 200 <= status < 300:
                    delivery.status = "delivered"
                    delivery.delivered_at = iso(self._clock.now())
                    delivery.next_retry_at = None
                    return
                retry = status == 429 or status >= 500
            delivery.last_response_at = iso(self._clock.now())
            if not retry or attempt == len(self._ladder):
                break
            wait = self._ladder[attempt]
            delivery.next_retry_at = iso(self._clock.now() + timedelta(seconds=wait))
            self._sleep(wait)
        delivery.status = "failed"
        delivery.next_retry_at = None
        delivery.abandoned_at = iso(self._clock.now())

"""Issue 13, item 4: `social_account.connected` is delivered, signed, retried, and never in the
way of a request. Signatures are checked here with hmac directly, not the sandbox's code."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading

import httpx
import pytest

from layers_tui.sandbox import create_app
from layers_tui.sandbox.state import make_demo_key
from layers_tui.sandbox.webhooks import EVENT_CATALOG, RETRY_LADDER
from tests.conftest import START
from tests.sandbox.test_contract import account, client_for, first_project, mint
from tests.sandbox.test_round2 import approve, reauth

HOOK = "https://hooks.example/layers"
SECRET = "whsec_sandbox-test-signing-secret"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: float = 300) -> int:
    """The receiver's procedure (contract §12.1), written out; returns `t`."""
    parts = [item.split("=", 1) for item in header.split(",")]
    timestamps = [int(value) for name, value in parts if name == "t"]
    candidates = [value for name, value in parts if name == "v1"]
    assert len(timestamps) == 1 and candidates
    t = timestamps[0]
    assert abs(now - t) <= tolerance
    expected = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256)
    assert any(hmac.compare_digest(expected.hexdigest(), v.lower()) for v in candidates)
    return t


class Receiver:
    """A webhook endpoint as an httpx transport: answers `statuses` in turn, then 200."""

    def __init__(self, *statuses: int | Exception) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        outcome = self.statuses.pop(0) if self.statuses else 200
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome)


def sandbox_with_hook(sandbox_clock, receiver, delays: list[float] | None = None):
    key = make_demo_key()

    def sleep(seconds: float) -> None:  # no real waiting: the sandbox clock moves instead
        if delays is not None:
            delays.append(seconds)
        sandbox_clock.advance(seconds)

    app = create_app(
        clock=sandbox_clock,
        api_keys=[key],
        rng_seed=3,
        webhook_url=HOOK,
        webhook_secret=SECRET,
        webhook_transport=httpx.MockTransport(receiver),
        webhook_sleep=sleep,
    )
    return app, key


async def connect_one(http: httpx.AsyncClient) -> dict:
    project_id = await first_project(http)
    state = (await mint(http, project_id)).json()["state"]
    await approve(http, state)
    return (await http.get(f"/v1/social/oauth-status/{state}")).json()


async def test_a_completed_connect_delivers_a_signed_event(sandbox_clock):
    receiver = Receiver()
    app, key = sandbox_with_hook(sandbox_clock, receiver)
    async with client_for(app, key) as http:
        done = await connect_one(http)
        assert app.state.sandbox.webhooks.wait_idle()
        listed = await account(http, await first_project(http), done["handle"])
    [request] = receiver.requests
    assert request.method == "POST" and str(request.url) == HOOK
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-layers-event-type"] == "social_account.connected"
    body = request.content
    t = verify(SECRET, request.headers["x-layers-signature"], body, START.timestamp())
    assert t == int(START.timestamp())
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", request.headers["x-layers-signature"])
    event = json.loads(body)
    assert event == {
        "id": request.headers["x-layers-event-id"],
        "type": "social_account.connected",
        "apiVersion": "v1",
        "createdAt": "2026-11-20T12:00:00Z",
        "data": {
            "socialAccountId": done["socialAccountId"],
            "platform": "tiktok",
            "displayName": listed["displayName"],
            "connectedAt": done["connectedAt"],
        },
    }
    assert re.fullmatch(r"evt_[0-9A-Z]{26}", event["id"])
    # The check above can fail: a changed body or another secret does not verify.
    with pytest.raises(AssertionError):
        verify(SECRET, request.headers["x-layers-signature"], body + b" ", START.timestamp())
    with pytest.raises(AssertionError):
        verify("whsec_other", request.headers["x-layers-signature"], body, START.timestamp())


async def test_failures_are_retried_with_backoff_and_the_same_event_id(sandbox_clock):
    receiver = Receiver(500, 429, httpx.ConnectError("refused"))
    delays: list[float] = []
    app, key = sandbox_with_hook(sandbox_clock, receiver, delays)
    async with client_for(app, key) as http:
        await connect_one(http)
        assert app.state.sandbox.webhooks.wait_idle()
        deliveries = (await http.get("/sandbox/webhooks/deliveries")).json()["items"]
    assert delays == list(RETRY_LADDER[:3])
    assert len(receiver.requests) == 4
    assert len({r.headers["x-layers-event-id"] for r in receiver.requests}) == 1
    assert len({r.content for r in receiver.requests}) == 1
    stamps = [
        verify(SECRET, r.headers["x-layers-signature"], r.content, START.timestamp(), 10**6)
        for r in receiver.requests
    ]
    start = int(START.timestamp())
    assert stamps == [start, start + 30, start + 90, start + 390]  # fresh t on every attempt
    [delivery] = deliveries
    assert delivery["status"] == "delivered" and delivery["attempts"] == 4
    assert delivery["eventId"] == receiver.requests[0].headers["x-layers-event-id"]
    assert delivery["lastResponseStatus"] == 200 and delivery["abandonedAt"] is None


async def test_retries_are_bounded_and_a_client_error_is_not_retried(sandbox_clock):
    receiver = Receiver(*[503] * 20)
    delays: list[float] = []
    app, key = sandbox_with_hook(sandbox_clock, receiver, delays)
    async with client_for(app, key) as http:
        await connect_one(http)
        assert app.state.sandbox.webhooks.wait_idle()
        receiver.statuses = [410]
        await connect_one(http)
        assert app.state.sandbox.webhooks.wait_idle()
        deliveries = (await http.get("/sandbox/webhooks/deliveries")).json()["items"]
    assert delays == list(RETRY_LADDER)  # 8 attempts: 0 s, 30 s, ... 24 h
    assert len(receiver.requests) == 8 + 1
    first, second = deliveries
    assert first["status"] == "failed" and first["attempts"] == 8 and first["abandonedAt"]
    assert first["lastResponseStatus"] == 503
    assert second["status"] == "failed" and second["attempts"] == 1
    assert second["lastResponseStatus"] == 410


async def test_delivery_never_blocks_the_request_that_caused_it(sandbox_clock):
    entered, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def slow_receiver(request: httpx.Request) -> httpx.Response:
        entered.set()
        # Inline delivery would hold the approve request here until this wait gave up.
        released.append(release.wait(5))
        return httpx.Response(204)

    app, key = sandbox_with_hook(sandbox_clock, slow_receiver)
    try:
        async with client_for(app, key) as http:
            done = await connect_one(http)  # would hang here if delivery were inline
            assert done["status"] == "completed"
            assert entered.wait(10)
            assert (await http.get("/v1/whoami")).status_code == 200
            release.set()
            assert app.state.sandbox.webhooks.wait_idle()
            [delivery] = (await http.get("/sandbox/webhooks/deliveries")).json()["items"]
        assert delivery["status"] == "delivered"
        assert released == [True]
    finally:
        release.set()


async def test_reauth_completion_is_delivered_and_needs_reauth_is_registered_not_emitted(
    sandbox_clock,
):
    receiver = Receiver()
    app, key = sandbox_with_hook(sandbox_clock, receiver)
    assert EVENT_CATALOG == {
        "social_account.connected": True,
        "social_account.needs_reauth": False,
    }
    async with client_for(app, key) as http:
        project_id = await first_project(http)
        healthy = await account(http, project_id, "acmecoffee")
        # status -> reauth_required twice (a control, then time): no event either way
        await http.post(f"/sandbox/social-accounts/{healthy['socialAccountId']}/expire-token")
        sandbox_clock.advance(40 * 24 * 3600)
        assert (await account(http, project_id, "acme.coffee.co"))["status"] == "reauth_required"
        assert app.state.sandbox.webhooks.wait_idle()
        assert receiver.requests == []
        assert app.state.sandbox.webhooks.emit("social_account.needs_reauth", {}) is None
        with pytest.raises(ValueError):
            app.state.sandbox.webhooks.emit("social_account.bogus", {})
        state = (await reauth(http, project_id, healthy["socialAccountId"])).json()["state"]
        await approve(http, state)
        assert app.state.sandbox.webhooks.wait_idle()
    [request] = receiver.requests
    event = json.loads(request.content)
    assert event["type"] == "social_account.connected"
    assert event["data"]["socialAccountId"] == healthy["socialAccountId"]


def test_webhook_options_are_checked():
    with pytest.raises(ValueError, match="needs --webhook-secret"):
        create_app(webhook_url=HOOK)
    with pytest.raises(ValueError, match="needs --webhook-url"):
        create_app(webhook_secret=SECRET)
    with pytest.raises(ValueError, match="https"):
        create_app(webhook_url="http://hooks.example/x", webhook_secret=SECRET)
    app = create_app(webhook_url="http://localhost:9/hook", webhook_secret=SECRET)
    assert SECRET not in repr(app.state.sandbox.webhooks)

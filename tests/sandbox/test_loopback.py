"""A subset of the contract over a real uvicorn socket, as `--demo` and users run it."""

from __future__ import annotations

import httpx
import pytest

from layers_tui.api import LayersClient
from layers_tui.api.errors import ApiTimeoutError
from layers_tui.clock import FakeClock


async def test_connect_walk_over_real_http(live_server):
    key = live_server.app.state.sandbox.demo_key
    return_url = f"http://localhost:{live_server.port}/sandbox/return"
    async with LayersClient(live_server.base_url, key) as client:
        me = await client.whoami()
        assert me.organization_name == "Demo Agency"
        projects = [p async for page in client.iter_projects() for p in page.items]
        link = await client.social_oauth_url(projects[0].id, "tiktok", return_url)
        async with httpx.AsyncClient() as browser:
            page = await browser.get(link.authorize_url)
            assert page.status_code == 200 and "Approve" in page.text
            done = await browser.post(
                link.authorize_url.split("?")[0],
                data={"decision": "approve"},
                follow_redirects=True,
            )
            assert done.status_code == 200 and "All set" in done.text
        assert (await client.oauth_status(link.state)).status == "completed"


async def test_latency_fault_times_out_over_a_real_socket(live_server):
    key = live_server.app.state.sandbox.demo_key
    async with httpx.AsyncClient(
        base_url=live_server.base_url, headers={"Authorization": f"Bearer {key}"}
    ) as http:
        await http.post("/sandbox/faults", json={"latencyMs": 800})
    timeout = httpx.Timeout(connect=1.0, read=0.2, write=1.0, pool=1.0)
    async with LayersClient(
        live_server.base_url, key, timeout=timeout, max_retries=0, clock=FakeClock()
    ) as client:
        with pytest.raises(ApiTimeoutError):
            await client.whoami()


async def test_rate_limit_headers_over_a_real_socket(live_server):
    key = live_server.app.state.sandbox.demo_key
    async with httpx.AsyncClient(base_url=live_server.base_url, headers={"X-Api-Key": key}) as http:
        await http.post("/sandbox/faults", json={"rateLimitBurst": 1, "retryAfter": 4})
        limited = await http.get("/v1/whoami")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "4"
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        ok = await http.get("/v1/whoami")
        assert ok.headers["x-ratelimit-endpoint-class"] == "read-light"


async def test_demo_consent_follows_the_sandbox_after_a_port_change(live_server):
    """A link minted before a restart carries the old port; the in-app approve still reaches
    the sandbox the client talks to now."""
    key = live_server.app.state.sandbox.demo_key
    return_url = f"http://localhost:{live_server.port}/sandbox/return"
    async with LayersClient(live_server.base_url, key) as client:
        projects = [p async for page in client.iter_projects() for p in page.items]
        link = await client.social_oauth_url(projects[0].id, "tiktok", return_url)
        stale = link.authorize_url.replace(f":{live_server.port}/", ":9/", 1)
        assert stale != link.authorize_url
        location = await client.sandbox_consent(stale, "approve")
        assert "layers_oauth_error" not in location
        assert (await client.oauth_status(link.state)).status == "completed"


async def test_webhook_reaches_a_real_receiver_over_loopback(sandbox_clock):
    """The default transport: a real POST to a local receiver while uvicorn serves the API."""
    import hashlib
    import hmac
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from layers_tui.sandbox import create_app
    from layers_tui.sandbox.server import SandboxServer

    received: list[tuple[dict[str, str], bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True).start()
    secret = "whsec_loopback"
    app = create_app(
        clock=sandbox_clock,
        rng_seed=1,
        webhook_url=f"http://localhost:{receiver.server_address[1]}/hook",
        webhook_secret=secret,
    )
    server = SandboxServer(app).start()
    try:
        key = app.state.sandbox.demo_key
        return_url = f"http://localhost:{server.port}/sandbox/return"
        async with LayersClient(server.base_url, key) as client:
            projects = [p async for page in client.iter_projects() for p in page.items]
            link = await client.social_oauth_url(projects[0].id, "tiktok", return_url)
            await client.sandbox_consent(link.authorize_url, "approve")
            done = await client.oauth_status(link.state)
        assert app.state.sandbox.webhooks.wait_idle()
    finally:
        server.stop()
        app.state.sandbox.webhooks.close()
        receiver.shutdown()
    [(headers, body)] = received
    t, v1 = (part.split("=", 1)[1] for part in headers["X-Layers-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, v1)
    event = json.loads(body)
    assert headers["X-Layers-Event-Type"] == event["type"] == "social_account.connected"
    assert event["data"]["socialAccountId"] == done.social_account_id

"""The lean GET path (asyncio streams + h11): keep-alive, stale connections, framing, and
when it steps aside for httpx."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from layers_tui.api import LayersClient
from layers_tui.api.errors import ApiConnectionError, OutcomeUnknownError
from layers_tui.api.lean import LeanResponse, query_string
from tests.api.test_faults_loopback import LoopbackServer, make_client

BODY = b'{"organizationId":"org_1","scopes":["*"]}'


class KeepAliveServer(LoopbackServer):
    """Answers every request on a connection until `close_after` answers, then closes it."""

    def __init__(self, close_after: int = 1000, chunked: bool = False) -> None:
        self.close_after = close_after
        self.chunked = chunked
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(Exception):
            for _ in range(self.close_after):
                self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                if self.chunked:
                    half = len(BODY) // 2
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                        + f"{half:x}\r\n".encode()
                        + BODY[:half]
                        + f"\r\n{len(BODY) - half:x}\r\n".encode()
                        + BODY[half:]
                        + b"\r\n0\r\n\r\n"
                    )
                else:
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(BODY)}\r\nX-Request-Id: req_k\r\n\r\n".encode()
                        + BODY
                    )
                await writer.drain()
        writer.close()


async def test_gets_share_one_keep_alive_connection(fake_clock):
    async with KeepAliveServer() as server, make_client(server.url, fake_clock) as client:
        assert client._lean is not None
        for _ in range(3):
            assert (await client.whoami()).organization_id == "org_1"
        assert server.connections == 1
        assert client.last_request_id == "req_k"
    first = server.requests[0].decode()
    assert first.startswith("GET /v1/whoami HTTP/1.1\r\n")
    assert "Authorization: Bearer lp_test_ABC_secret" in first
    assert "User-Agent: layers-tui/" in first


async def test_a_connection_the_server_closed_is_replaced_without_an_error(fake_clock):
    async with (
        KeepAliveServer(close_after=1) as server,
        make_client(server.url, fake_clock, max_retries=0) as client,
    ):
        await client.whoami()
        await asyncio.sleep(0.05)  # the server has closed the idle connection by now
        await client.whoami()
        assert server.connections == 2
    assert fake_clock.sleeps == []  # not a retry with backoff: a fresh connection at once


async def test_chunked_bodies_and_query_strings(fake_clock):
    async with (
        KeepAliveServer(chunked=True) as server,
        make_client(server.url, fake_clock) as client,
    ):
        await client.request("GET", "/v1/projects", params={"limit": 200, "cursor": "a b&c"})
        assert (await client.whoami()).organization_id == "org_1"
    assert server.requests[0].startswith(b"GET /v1/projects?limit=200&cursor=a+b%26c HTTP/1.1")


def test_a_configured_proxy_sends_everything_through_httpx(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    assert LayersClient("https://api.layers.com", "lp_test_A_b")._lean is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert LayersClient("https://api.layers.com", "lp_test_A_b")._lean is None
    monkeypatch.setenv("NO_PROXY", "api.layers.com")
    assert LayersClient("https://api.layers.com", "lp_test_A_b")._lean is not None


# A self-signed certificate for localhost / 127.0.0.1, made for these tests only.
CERT = Path(__file__).resolve().parent.parent / "data" / "loopback-test.crt"
CERT_KEY = CERT.with_suffix(".key")


def tls_server() -> KeepAliveServer:
    server = KeepAliveServer()
    server.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.tls.load_cert_chain(CERT, CERT_KEY)
    return server


async def test_https_is_verified_against_the_trusted_store(fake_clock, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(CERT))  # trusted the way httpx trusts it
    async with tls_server() as server, make_client(server.url, fake_clock) as client:
        assert server.url.startswith("https://localhost:")
        assert client._lean is not None
        for _ in range(2):
            assert (await client.whoami()).organization_id == "org_1"
        assert server.connections == 1
    assert "Host: localhost:" in server.requests[0].decode()


async def test_an_untrusted_certificate_is_refused(fake_clock, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    async with tls_server() as server, make_client(server.url, fake_clock) as client:
        with pytest.raises(ApiConnectionError) as caught:
            await client.whoami()
    assert caught.value.code == "TLS_UNTRUSTED"
    assert "Cannot verify the TLS certificate of localhost" in caught.value.message
    assert server.requests == []


async def test_failed_attempts_leave_nothing_in_flight(fake_clock):
    """H-12 on the lean path: after five failed attempts every connection is closed and
    every slot of the pool is free again."""
    from tests.api.test_faults_loopback import FaultServer

    async with (
        FaultServer(["reset"]) as server,
        make_client(server.url, fake_clock, max_retries=4) as client,
    ):
        with pytest.raises(OutcomeUnknownError):
            await client.whoami()
        assert server.hits == 5
        lean = client._lean
        assert lean is not None and lean._idle == []
        assert lean._slots._value == 32  # every slot released


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 200, "cursor": "2026-01-01T00:00:00+00:00"},
        {"q": "é ü/?&=#", "flag": True, "off": False, "none": None},
        {"status": ["reauth_required", "disconnected"], "n": 1.5},
    ],
)
def test_query_strings_are_encoded_as_httpx_encodes_them(params):
    import httpx

    assert query_string(params) == str(httpx.QueryParams(params))


def test_response_headers_are_read_case_insensitively():
    response = LeanResponse(
        429,
        [(b"Retry-After", b"7"), (b"X-Request-Id", b"req_1"), (b"x-request-id", b"req_2")],
        b"{}",
    )
    assert response.headers.get("retry-after") == "7"
    assert response.headers.get("x-request-id") == "req_1"


def test_a_read_only_start_never_imports_httpx():
    """httpx (with its CLI extras) is ~0.1 s of start-up: only writes, proxies and in-process
    transports need it, and the dashboard's first screen has none of them."""
    code = (
        "import sys\n"
        "from layers_tui.api import LayersClient\n"
        "import layers_tui.cli, layers_tui.ui.app, layers_tui.ui.screens.dashboard\n"
        "LayersClient('https://api.layers.com', 'lp_test_A_b')\n"
        "print('httpx' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "False"

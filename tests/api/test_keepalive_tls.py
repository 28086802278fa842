"""The one HTTP stack over real loopback sockets: keep-alive, stale and hostile idle
connections, proxies, and TLS trust (including a broken SSL_CERT_FILE)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import pytest

from layers_tui.api.errors import ApiConnectionError
from tests.api.test_faults_loopback import LoopbackServer, make_client

BODY = b'{"organizationId":"org_1","scopes":["*"]}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(BODY)}\r\nX-Request-Id: req_k\r\n\r\n".encode()
    + BODY
)


class KeepAliveServer(LoopbackServer):
    """Answers every request on a connection until `close_after` answers, then closes it.
    With `then_408`, after each answer it also sends an unsolicited `408 Request Timeout`
    on the idle connection (as servers do when they time an idle connection out)."""

    def __init__(self, close_after: int = 1000, chunked: bool = False, then_408=False) -> None:
        self.close_after = close_after
        self.chunked = chunked
        self.then_408 = then_408
        self.connections = 0
        self.requests: list[bytes] = []
        self.idle_408_sent = asyncio.Event()

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
                    writer.write(ANSWER)
                await writer.drain()
                if self.then_408:
                    writer.write(
                        b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                    await writer.drain()
                    self.idle_408_sent.set()
                    break
        writer.close()


async def test_gets_share_one_keep_alive_connection(fake_clock):
    async with KeepAliveServer() as server, make_client(server.url, fake_clock) as client:
        for _ in range(3):
            assert (await client.whoami()).organization_id == "org_1"
        await client.request("POST", "/v1/projects", body={"name": "x"})
        assert server.connections == 1  # reads and writes: one pool
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


async def test_an_unsolicited_408_on_an_idle_connection_is_not_the_next_answer(fake_clock):
    """A server that times out an idle keep-alive connection may first write a 408 on it.
    That 408 answers no request of ours: the next request gets its own answer."""
    async with (
        KeepAliveServer(then_408=True) as server,
        make_client(server.url, fake_clock, max_retries=0) as client,
    ):
        await client.whoami()
        await asyncio.wait_for(server.idle_408_sent.wait(), 2)
        await asyncio.sleep(0.01)  # loopback: the 408 is in our socket buffer by now
        me = await client.whoami()
        assert me.organization_id == "org_1"
        assert len(server.requests) == 2
    assert fake_clock.sleeps == []


async def test_chunked_bodies_and_query_strings(fake_clock):
    async with (
        KeepAliveServer(chunked=True) as server,
        make_client(server.url, fake_clock) as client,
    ):
        await client.request("GET", "/v1/projects", params={"limit": 200, "cursor": "a b&c"})
        assert (await client.whoami()).organization_id == "org_1"
    assert server.requests[0].startswith(b"GET /v1/projects?limit=200&cursor=a+b%26c HTTP/1.1")


class ProxyServer(LoopbackServer):
    """A forward proxy that answers every request itself and records its request line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.lines.append(head.split(b"\r\n", 1)[0].decode())
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                writer.write(ANSWER)
                await writer.drain()
        writer.close()


def clear_proxies(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def test_reads_and_writes_take_the_same_proxy_decision(fake_clock, monkeypatch):
    """`NO_PROXY=.layers.test` exempts subdomains, not `layers.test` itself (httpx's rule):
    a GET and a POST to layers.test both go through the proxy."""
    clear_proxies(monkeypatch)
    async with ProxyServer() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", ".layers.test")
        async with make_client("http://layers.test", fake_clock, max_retries=0) as client:
            assert (await client.whoami()).organization_id == "org_1"
            await client.request("POST", "/v1/projects", body={"name": "x"})
    assert proxy.lines == [
        "GET http://layers.test/v1/whoami HTTP/1.1",
        "POST http://layers.test/v1/projects HTTP/1.1",
    ]


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
        for _ in range(2):
            assert (await client.whoami()).organization_id == "org_1"
        assert server.connections == 1
    assert "Host: localhost:" in server.requests[0].decode()


async def test_an_untrusted_certificate_is_refused(fake_clock, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with tls_server() as server, make_client(server.url, fake_clock) as client:
        with pytest.raises(ApiConnectionError) as caught:
            await client.whoami()
    assert caught.value.code == "TLS_UNTRUSTED"
    assert "Cannot verify the TLS certificate of localhost" in caught.value.message
    assert server.requests == []


@pytest.mark.parametrize("problem", ["missing", "empty", "not-pem"])
async def test_a_broken_ssl_cert_file_is_a_certificate_problem(
    fake_clock, monkeypatch, tmp_path, problem
):
    bundle = tmp_path / "company-ca.pem"
    if problem == "empty":
        bundle.write_bytes(b"")
    elif problem == "not-pem":
        bundle.write_text("this is not a certificate\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    async with tls_server() as server, make_client(server.url, fake_clock) as client:
        with pytest.raises(ApiConnectionError) as caught:
            await client.whoami()
    assert caught.value.code == "TLS_UNTRUSTED"
    assert "SSL_CERT_FILE" in caught.value.message and str(bundle) in caught.value.message
    assert ("missing" if problem == "missing" else "unusable") in caught.value.message
    assert fake_clock.sleeps == []  # a local problem: not retried as if the network failed
    assert server.requests == []

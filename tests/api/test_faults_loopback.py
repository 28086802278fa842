"""Faults that need a real socket: ASGITransport cannot time out or drop a connection."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from typing import Self

import httpx
import pytest

from layers_tui.api import ApiError, LayersClient
from layers_tui.api.errors import ApiConnectionError, ApiTimeoutError, OutcomeUnknownError
from layers_tui.clock import FakeClock

OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 41\r\n"
    b"Connection: close\r\n\r\n"
    b'{"organizationId":"org_1","scopes":["*"]}'
)


class LoopbackServer:
    """A raw asyncio server on a free loopback port; subclasses answer in `handle`."""

    server: asyncio.Server | None = None
    tls: ssl.SSLContext | None = None  # set to serve https

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"https://localhost:{port}" if self.tls else f"http://127.0.0.1:{port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class FaultServer(LoopbackServer):
    """Misbehaves on purpose, one scripted answer per connection (the last one repeats)."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.hits = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self.script[min(self.hits, len(self.script) - 1)]
        self.hits += 1
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            if mode == "ok":
                writer.write(OK)
            elif mode == "close":
                pass
            elif mode == "stall":
                await asyncio.sleep(5)
            elif mode == "drip":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 41\r\n\r\n")
                for byte in OK.split(b"\r\n\r\n", 1)[1]:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.1)
            elif mode == "short":
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"org')
            elif mode == "reset":
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"org')
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif mode.startswith("429:"):
                hint = mode[4:]
                body = b'{"error":{"code":"RATE_LIMITED","message":"slow","requestId":"req_1"}}'
                writer.write(
                    b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json"
                    + f"\r\nRetry-After: {hint}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                    + body
                )
            elif mode == "500":
                body = b'{"error":{"code":"INTERNAL","message":"boom","requestId":"req_2"}}'
                writer.write(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: "
                    b"application/json\r\nConnection: close\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body
                )
            await writer.drain()
        writer.close()


def make_client(url: str, clock: FakeClock, **options) -> LayersClient:
    timeout = httpx.Timeout(connect=0.5, read=0.3, write=0.5, pool=0.5)
    return LayersClient(
        url,
        "lp_test_ABC_secret",
        clock=clock,
        timeout=timeout,
        jitter=lambda low, high: high,
        **options,
    )


async def test_connection_refused_is_retried_then_explained(fake_clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with make_client(f"http://127.0.0.1:{port}", fake_clock) as client:
        with pytest.raises(ApiConnectionError) as caught:
            await client.whoami()
    assert "Cannot reach 127.0.0.1" in caught.value.message
    assert fake_clock.sleeps == [0.5, 1.0]


@pytest.mark.parametrize("fault", ["close", "short", "reset"])
async def test_dropped_connection_is_retried_for_gets(fake_clock, fault):
    async with FaultServer([fault, "ok"]) as server, make_client(server.url, fake_clock) as c:
        me = await c.whoami()
    assert me.organization_id == "org_1" and server.hits == 2


async def test_dropped_connection_on_an_unkeyed_write_is_outcome_unknown(fake_clock):
    async with FaultServer(["close", "ok"]) as server, make_client(server.url, fake_clock) as c:
        with pytest.raises(OutcomeUnknownError) as caught:
            await c.revoke_social_account("sa_x")
    assert server.hits == 1 and "refresh" in caught.value.message


async def test_keyed_write_is_retried_with_the_same_key(fake_clock):
    seen: list[str] = []

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        key = next(
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"idempotency-key")
        )
        seen.append(key)
        if len(seen) > 1:
            body = b'{"id":"prj_1","name":"Fern Bakery"}'
            writer.write(
                b"HTTP/1.1 201 Created\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with make_client(url, fake_clock) as client:
        project = await client.create_project("Fern Bakery", "UTC")
    server.close()
    assert project.id == "prj_1"
    assert len(seen) == 2 and seen[0] == seen[1]


async def test_stalled_server_times_out(fake_clock):
    async with (
        FaultServer(["stall"]) as server,
        make_client(server.url, fake_clock, max_retries=0) as client,
    ):
        with pytest.raises(ApiTimeoutError):
            await client.whoami()


async def test_drip_fed_body_hits_the_overall_deadline(fake_clock):
    async with (
        FaultServer(["drip"]) as server,
        make_client(server.url, fake_clock, deadline=0.5, max_retries=0) as c,
    ):
        with pytest.raises(ApiTimeoutError) as caught:
            await c.whoami()
    assert "0.5s" in caught.value.message


@pytest.mark.parametrize(
    ("hint", "expected"),
    [("2", 2.0), ("0", 0.5), ("soon", 0.5), ("nan", 0.5), ("-5", 0.5), ("1e309", 0.5)],
)
async def test_429_retry_after_forms(fake_clock, hint, expected):
    async with (
        FaultServer([f"429:{hint}", "ok"]) as server,
        make_client(server.url, fake_clock) as c,
    ):
        await c.whoami()
    assert fake_clock.sleeps == [expected]


async def test_429_http_date(fake_clock):
    moment = fake_clock.now()
    from datetime import timedelta
    from email.utils import format_datetime

    hint = format_datetime(moment + timedelta(seconds=7), usegmt=True)
    async with (
        FaultServer([f"429:{hint}", "ok"]) as server,
        make_client(server.url, fake_clock) as c,
    ):
        await c.whoami()
    assert fake_clock.sleeps == [7.0]


async def test_5xx_then_success(fake_clock):
    async with FaultServer(["500", "ok"]) as server, make_client(server.url, fake_clock) as c:
        await c.whoami()
    assert server.hits == 2


async def test_5xx_exhausted_keeps_the_last_request_id(fake_clock):
    async with FaultServer(["500"]) as server, make_client(server.url, fake_clock) as c:
        with pytest.raises(ApiError) as caught:
            await c.whoami()
    assert caught.value.request_id == "req_2" and server.hits == 3

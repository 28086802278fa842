"""Hostile answers over a real loopback socket: only `ApiError`s leave the client, and no
body (huge, endless, a gzip bomb, deeply nested) costs more than the cap in memory."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import tracemalloc
import zlib
from functools import cache

import httpx
import pytest

from layers_tui.api import ApiError, InvalidResponseError, LayersClient
from layers_tui.api.body import MAX_BODY_BYTES
from tests.api.test_faults_loopback import LoopbackServer, make_client
from tests.conftest import BASE, RETURN_URL

ME = b'{"organizationId":"org_1","scopes":["*"]}'
BOMB_SIZE = 256 * 1024 * 1024  # 256 MiB of zeros once inflated (32x the cap)


@cache
def gzip_bomb() -> bytes:
    """~250 KiB on the wire, 256 MiB inflated."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(BOMB_SIZE // len(block))]
    return b"".join(parts) + packer.flush()


class HostileServer(LoopbackServer):
    """Answers every request in one hostile way (`mode`), on a fresh connection each time."""

    def __init__(self, mode: str, status: int = 200) -> None:
        self.mode = mode
        self.status = status
        self.hits = 0
        self.bytes_sent = 0

    def head(self, extra: str) -> bytes:
        return (
            f"HTTP/1.1 {self.status} Whatever\r\nContent-Type: application/json\r\n"
            f"X-Request-Id: req_hostile\r\nConnection: close\r\n{extra}\r\n"
        ).encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":")[1]))
            if self.mode == "nested":
                body = b"[" * 200_000 + b"]" * 200_000
                writer.write(self.head(f"Content-Length: {len(body)}\r\n") + body)
            elif self.mode == "nested-object":
                body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
                writer.write(self.head(f"Content-Length: {len(body)}\r\n") + body)
            elif self.mode == "endless":
                writer.write(self.head("Transfer-Encoding: chunked\r\n"))
                chunk = b"x" * 65_536
                while True:  # until the client hangs up
                    writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    await writer.drain()
                    self.bytes_sent += len(chunk)
            elif self.mode == "huge":
                writer.write(self.head(f"Content-Length: {100 * MAX_BODY_BYTES}\r\n"))
                chunk = b" " * 65_536
                while True:
                    writer.write(chunk)
                    await writer.drain()
                    self.bytes_sent += len(chunk)
            elif self.mode in ("bomb", "bomb-twice"):
                coding = "gzip" if self.mode == "bomb" else "gzip, gzip"
                body = gzip_bomb()
                extra = f"Content-Encoding: {coding}\r\nContent-Length: {len(body)}\r\n"
                writer.write(self.head(extra))
                for start in range(0, len(body), 65_536):
                    writer.write(body[start : start + 65_536])
                    await writer.drain()
                    self.bytes_sent += 65_536
            elif self.mode in ("gzip", "deflate", "raw-deflate", "corrupt-gzip"):
                body = {
                    "gzip": gzip.compress(ME),
                    "deflate": zlib.compress(ME),
                    "raw-deflate": zlib.compress(ME, wbits=-zlib.MAX_WBITS),
                    "corrupt-gzip": gzip.compress(ME)[:12] + b"garbage-garbage",
                }[self.mode]
                coding = "gzip" if "gzip" in self.mode else "deflate"
                extra = f"Content-Encoding: {coding}\r\nContent-Length: {len(body)}\r\n"
                writer.write(self.head(extra) + body)
            elif self.mode == "brotli":
                writer.write(self.head("Content-Encoding: br\r\nContent-Length: 4\r\n") + b"abcd")
            await writer.drain()
        writer.close()


async def fetch(server: HostileServer, fake_clock, call: str = "whoami") -> ApiError:
    async with make_client(server.url, fake_clock, max_retries=2) as client:
        with pytest.raises(ApiError) as caught:
            if call == "whoami":
                await client.whoami()
            else:
                await client.create_project("x", "UTC", idempotency_key="k1")
    assert type(caught.value) is InvalidResponseError  # never a bare exception
    return caught.value


@pytest.mark.parametrize("mode", ["nested", "nested-object"])
async def test_deeply_nested_json_is_an_invalid_response(fake_clock, mode):
    async with HostileServer(mode) as server:
        error = await fetch(server, fake_clock)
    assert (error.code, error.status, error.request_id) == (
        "INVALID_RESPONSE",
        200,
        "req_hostile",
    )


async def test_deeply_nested_error_body_is_still_an_api_error(fake_clock):
    async with (
        HostileServer("nested", status=500) as server,
        make_client(server.url, fake_clock, max_retries=0) as client,
    ):
        with pytest.raises(ApiError) as caught:
            await client.whoami()
    assert caught.value.status == 500 and caught.value.request_id == "req_hostile"


@pytest.mark.parametrize("mode", ["endless", "huge"])
async def test_an_endless_or_huge_body_stops_at_the_cap(fake_clock, mode):
    async with HostileServer(mode) as server:
        error = await fetch(server, fake_clock)
    assert error.code == "INVALID_RESPONSE" and "8 MiB" in error.message
    assert error.request_id == "req_hostile"
    assert server.hits == 1  # the same answer again would be no better: not retried
    assert server.bytes_sent < 2 * MAX_BODY_BYTES + 16 * 1024 * 1024  # socket buffers


@pytest.mark.parametrize("call", ["whoami", "write"])
async def test_a_gzip_bomb_is_stopped_by_the_cap_while_inflating(fake_clock, call):
    gzip_bomb()  # built before measuring
    async with HostileServer("bomb") as server:
        tracemalloc.start()
        try:
            error = await fetch(server, fake_clock, call)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert error.code == "INVALID_RESPONSE" and "8 MiB" in error.message
    assert peak < 3 * MAX_BODY_BYTES  # the body and one inflated chunk, never the bomb
    assert server.hits == 1


@pytest.mark.parametrize("mode", ["bomb-twice", "brotli", "corrupt-gzip"])
async def test_encodings_we_did_not_ask_for_or_cannot_read_are_invalid(fake_clock, mode):
    async with HostileServer(mode) as server:
        error = await fetch(server, fake_clock)
    assert error.code == "INVALID_RESPONSE" and "could not be decoded" in error.message
    assert error.status == 200 and error.request_id == "req_hostile"


@pytest.mark.parametrize("mode", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_answers_are_read(fake_clock, mode):
    async with HostileServer(mode) as server, make_client(server.url, fake_clock) as client:
        assert (await client.whoami()).organization_id == "org_1"


async def test_the_client_asks_only_for_encodings_it_bounds(fake_clock):
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=ME)

    async with LayersClient(
        BASE, "lp_test_ABC_secret", transport=httpx.MockTransport(answer), clock=fake_clock
    ) as client:
        await client.whoami()
    assert seen[0].headers["accept-encoding"] == "gzip, deflate"


# -- ids in URL paths ---------------------------------------------------------------------------
HOSTILE_IDS = ["prj with space", "東京カフェ", "a/b?c#d", "..", "%2E%2E", "sa_x\r\nX-Evil: 1"]


@pytest.mark.parametrize("identifier", HOSTILE_IDS)
async def test_ids_are_quoted_path_segments_over_a_real_socket(live_server, identifier):
    """`connect PROJECT_ID` / `reauth ID` with odd ids reach the API as one path segment and
    come back as the API's own answer, never as a dropped connection or an encoding error."""
    key = live_server.app.state.sandbox.demo_key
    async with LayersClient(live_server.base_url, key, max_retries=0) as client:
        with pytest.raises(ApiError) as project:
            await client.get_project(identifier)
        with pytest.raises(ApiError) as connect:
            await client.social_oauth_url(identifier, "instagram", RETURN_URL)
        with pytest.raises(ApiError) as health:
            await client.social_health(identifier)
        with pytest.raises(ApiError) as status:
            await client.oauth_status(identifier)
    for answer in (project.value, connect.value, health.value, status.value):
        assert answer.status in (400, 404) and answer.request_id  # the sandbox's answer
        assert answer.code in ("NOT_FOUND", "VALIDATION")
    assert status.value.code == "NOT_FOUND"


async def test_a_path_segment_keeps_every_reserved_character(sandbox_app, fake_clock, api_key):
    seen: list[bytes] = []
    inner = httpx.ASGITransport(app=sandbox_app)

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.url.raw_path)
            return await inner.handle_async_request(request)

    async with LayersClient(BASE, api_key, transport=Recording(), clock=fake_clock) as client:
        for identifier in ("a/b?c#d", "..", "a b"):
            with pytest.raises(ApiError):
                await client.get_project(identifier)
        with pytest.raises(ApiError) as empty:
            await client.get_project("")
    assert seen == [
        b"/v1/projects/a%2Fb%3Fc%23d",
        b"/v1/projects/%2E%2E",
        b"/v1/projects/a%20b",
    ]
    assert empty.value.code == "INVALID_ID"  # never GET /v1/projects/ (the list)

"""Keep-alive HTTP/1.1 GETs straight on asyncio streams, framed by h11.

The poller sends dozens of `oauth-status` GETs a second during a bulk reauth; each cost
~1.8 ms of CPU through httpx (request and response models, auth and cookie hooks, anyio) and
costs ~0.6 ms this way, parsing included. The dashboard's lists take this path too, so a
start-up that only reads never imports httpx. Only plain GETs without a proxy take it;
everything else goes through httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import h11

READ_CHUNK = 65_536


class LeanConnectError(Exception):
    """The connection could not be opened (nothing was sent)."""


class LeanDropped(Exception):
    """The connection broke after the request went out."""


class LeanReadTimeout(Exception):
    """No (complete) answer within the read timeout."""


class LeanResponse:
    """A complete response, read through the same attributes the client reads on httpx's."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        # Lower-cased names; a repeated header keeps its first value (the client reads only
        # single-valued ones: request id, rate-limit state, Retry-After).
        self.headers: dict[str, str] = {}
        for name, value in headers:
            self.headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def tls_context() -> ssl.SSLContext:
    """Verifying context trusting what httpx trusts: SSL_CERT_FILE or SSL_CERT_DIR when set
    (a company CA), else certifi's bundle. Built here so a start-up needs no httpx."""
    if os.environ.get("SSL_CERT_FILE"):
        return ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
    if os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def query_string(params: dict[str, Any]) -> str:
    """`a=1&b=x%2Fy`, encoded as httpx encodes query parameters (booleans as true/false)."""
    pairs = [
        (name, _query_value(item))
        for name, value in params.items()
        for item in (value if isinstance(value, list | tuple) else [value])
    ]
    return urlencode(pairs)


def _query_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def proxy_applies(scheme: str, host: str) -> bool:
    """Whether the environment routes this host through a proxy (httpx would honour it)."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)

    async def exchange(self, request: h11.Request, read_timeout: float) -> LeanResponse:
        """Send the request, read the whole response. Like httpx, the read timeout bounds
        each wait for data, not the whole body (the caller's deadline bounds that)."""
        self.writer.write(self.h11.send(request) + self.h11.send(h11.EndOfMessage()))
        await self.writer.drain()
        status, headers, body = 0, [], bytearray()
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout(read_timeout):
                        data = await self.reader.read(READ_CHUNK)
                except TimeoutError:
                    raise LeanReadTimeout() from None
                self.h11.receive_data(data)  # b"" means the peer closed
                continue
            if isinstance(event, h11.Response):
                status, headers = event.status_code, list(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return LeanResponse(status, headers, bytes(body))
            elif isinstance(event, h11.ConnectionClosed):
                raise LeanDropped("closed before the response ended")

    @property
    def reusable(self) -> bool:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            return True
        return False

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class LeanGetter:
    """A keep-alive pool (at most `limit` connections at once) for one origin."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        headers: list[tuple[str, str]],
        connect_timeout: float,
        read_timeout: float,
        ssl_factory: Callable[[], ssl.SSLContext] | None = None,
        limit: int = 32,
    ) -> None:
        self.host, self.port = host, port
        # Built on first connect: loading the CA bundle costs ~40 ms at start-up.
        self._ssl_factory = ssl_factory if scheme == "https" else None
        self._ssl: ssl.SSLContext | None = None
        default_port = 443 if scheme == "https" else 80
        name = f"[{host}]" if ":" in host else host  # an IPv6 literal
        authority = name if port == default_port else f"{name}:{port}"
        self._headers = [("Host", authority), *headers]
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)

    async def get(self, target: str, headers: list[tuple[str, str]]) -> LeanResponse:
        request = h11.Request(method="GET", target=target, headers=[*self._headers, *headers])
        async with self._slots:
            while self._idle:
                # An idle keep-alive connection may have been closed by the server meanwhile:
                # a GET that got no answer on it is simply sent again on another.
                connection = self._idle.pop()
                try:
                    return await self._exchange(connection, request)
                except (LeanDropped, ConnectionError, h11.ProtocolError):
                    continue
            return await self._exchange(await self._connect(), request)

    async def _exchange(self, connection: _Connection, request: h11.Request) -> LeanResponse:
        try:
            response = await connection.exchange(request, self._read_timeout)
        except BaseException:
            connection.close()
            raise
        if connection.reusable:
            self._idle.append(connection)
        else:
            connection.close()
        return response

    async def _connect(self) -> _Connection:
        if self._ssl_factory is not None and self._ssl is None:
            self._ssl = self._ssl_factory()
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except (OSError, TimeoutError) as error:
            raise LeanConnectError(f"{type(error).__name__}: {error}") from None
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()

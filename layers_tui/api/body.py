"""Response bodies read with a hard size cap that also bounds decompression.

httpx's own decoders inflate each network chunk whole (64 KiB of gzip can become 64 MiB,
and stacked encodings multiply), so the body is read raw and inflated here with zlib's
`max_length`: memory stays at about the cap whatever the server sends.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

MAX_BODY_BYTES = 8 * 1024 * 1024  # after decompression
ACCEPT_ENCODING = "gzip, deflate"


class BodyTooLarge(Exception):
    """The body grew past the cap (stopped reading there)."""


class BodyUndecodable(Exception):
    """A content encoding we did not ask for, or a corrupt compressed stream."""


class BodyReader:
    """Collects one response body, inflating `gzip`/`deflate`, never past `limit` bytes."""

    def __init__(self, content_encoding: Iterable[str], limit: int = MAX_BODY_BYTES) -> None:
        codings = [c.strip().lower() for c in content_encoding]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise BodyUndecodable(f"unsupported Content-Encoding {', '.join(codings)!r}")
        self.limit = limit
        self._body = bytearray()
        self._deflate = bool(codings) and codings[0] == "deflate"
        self._inflater = None
        if codings:
            # gzip, or zlib-wrapped deflate (32: detect the header); raw deflate on failure.
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
        self._started = False

    def feed(self, raw: bytes) -> None:
        if self._inflater is None:
            self._append(raw)
            return
        data = raw
        while data:
            room = self.limit - len(self._body) + 1  # one byte past the cap proves the excess
            try:
                out = self._inflater.decompress(data, room)
            except zlib.error as error:
                if self._deflate and not self._started:
                    self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._deflate = False
                    continue
                raise BodyUndecodable(f"corrupt compressed body ({error})") from None
            self._started = True
            self._append(out)
            if self._inflater.eof:
                return  # anything after the end of the stream is ignored, as zlib does
            data = self._inflater.unconsumed_tail

    def finish(self) -> bytes:
        if self._inflater is not None:
            if self._started and not self._inflater.eof:
                raise BodyUndecodable("compressed body ended early")
            self._append(self._inflater.flush())
        return bytes(self._body)

    def _append(self, data: bytes) -> None:
        if len(self._body) + len(data) > self.limit:
            raise BodyTooLarge()
        self._body += data

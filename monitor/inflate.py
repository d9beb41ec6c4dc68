"""Bounded decompression of HTTP bodies (gzip, deflate): a gzip bomb stops at the size cap."""

from __future__ import annotations

import zlib

from monitor.errors import FetchError


class Inflater:
    """Incremental gzip/deflate decoding whose output never exceeds `limit` bytes in total.

    `zlib.decompressobj(...).decompress(chunk, max_length)` bounds each call's output, so a 64 KB chunk
    of a gzip bomb costs at most `limit` + 1 bytes, never the gigabyte it stands for.
    """

    def __init__(self, shown: str, encoding: str, limit: int) -> None:
        self._shown, self._encoding, self._limit = shown, encoding, limit
        self._out = 0
        self._decoder: zlib._Decompress | None = None

    @classmethod
    def for_encoding(cls, shown: str, header: str, limit: int) -> Inflater | None:
        encoding = header.strip().lower()
        if encoding in ("", "identity"):
            return None
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise FetchError(shown, f"unsupported Content-Encoding {encoding[:20]!r}")
        return cls(shown, encoding, limit)

    def feed(self, chunk: bytes) -> bytes:
        if self._decoder is None:
            self._decoder = zlib.decompressobj(self._wbits(chunk))
        try:
            out = self._decoder.decompress(chunk, self._limit - self._out + 1)
        except zlib.error:
            raise FetchError(self._shown, f"corrupt {self._encoding} body") from None
        return self._count(out)

    def flush(self) -> bytes:
        return self._count(self._decoder.flush()) if self._decoder else b""

    def _wbits(self, first: bytes) -> int:
        if self._encoding != "deflate":
            return 31
        is_zlib = len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0
        return 15 if is_zlib else -15  # "deflate" is zlib-wrapped by the RFC, raw by some servers

    def _count(self, out: bytes) -> bytes:
        self._out += len(out)
        if self._out > self._limit:
            raise FetchError(self._shown, f"{self._encoding} body inflates over {size_text(self._limit)}")
        return out


def size_text(n: int) -> str:
    """A byte count as people write caps: "10 MB", "512 KB", "100 bytes"."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"

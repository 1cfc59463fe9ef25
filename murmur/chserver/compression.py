"""Request decompression (streamed, multi-frame) and response compression.

clickhouse-connect compresses each insert block separately: lz4 and zstd bodies are a chain
of independent frames, so a decoder restarts on ``unused_data`` until the input is used up.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import lz4.frame
import zstandard

from murmur.chserver.errors import ChError

REQUEST_ENCODINGS = ("gzip", "deflate", "x-gzip", "lz4", "zstd")
RESPONSE_ENCODINGS = ("lz4", "zstd", "gzip", "deflate")


class _Decoder(Protocol):
    def decompress(self, data: bytes) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...


def _new_decoder(encoding: str) -> Any:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    if encoding == "lz4":
        return lz4.frame.LZ4FrameDecompressor()
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj()
    raise ChError(1, f"Unsupported Content-Encoding: {encoding}", "UNSUPPORTED_METHOD")


def decode_stream(chunks: Iterable[bytes], encoding: str | None, limit: int) -> Iterator[bytes]:
    """Decompress a chunked body lazily; enforce ``limit`` on the decompressed size.

    Raises:
        ChError: unknown encoding, corrupt or truncated data, or a body over ``limit``.
    """
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        yield from chunks
        return
    decoder: _Decoder = _new_decoder(enc)
    total = 0
    pending = False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                out = decoder.decompress(data)
                pending = True
                if out:
                    total += len(out)
                    if total > limit:
                        raise ChError(307, f"Decompressed request body exceeds {limit} bytes")
                    yield out
                if decoder.eof:
                    pending = False
                    data = decoder.unused_data
                    decoder = _new_decoder(enc)
                else:
                    data = b""
    except ChError:
        raise
    except Exception as exc:
        raise ChError(
            271, f"Cannot decompress {enc} request body: {exc}", "CANNOT_DECOMPRESS"
        ) from exc
    if pending and not decoder.eof and enc != "deflate":
        raise ChError(271, f"Truncated {enc} request body", "CANNOT_DECOMPRESS")


def pick_response_encoding(accept_encoding: str | None) -> str | None:
    """First encoding the client lists that the server can produce."""
    if not accept_encoding:
        return None
    for item in accept_encoding.split(","):
        name = item.split(";")[0].strip().lower()
        if name in RESPONSE_ENCODINGS:
            return name
    return None


def compress(data: bytes, encoding: str, level: int | None = None) -> bytes:
    if encoding == "gzip":
        obj = zlib.compressobj(level if level is not None else 3, wbits=16 + zlib.MAX_WBITS)
        return obj.compress(data) + obj.flush()
    if encoding == "deflate":
        return zlib.compress(data, level if level is not None else 3)
    if encoding == "zstd":
        return zstandard.ZstdCompressor(level=level or 1).compress(data)
    if encoding == "lz4":
        return bytes(lz4.frame.compress(data))
    raise ValueError(encoding)

"""Avro binary encoding of the primitives the court's workers splice (Avro spec, "Binary
encoding"), shared by `producers.court.prepare` and `producers.court.fastlist`; fastavro
stays the reference (the codec's output is compared with the spliced values)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["EPOCH", "avro_long", "avro_string", "micros"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _avro_long(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_SMALL = tuple(_avro_long(n) for n in range(8192))  # every one- and two-byte value


def avro_long(n: int) -> bytes:
    """Avro `long` (and `int`): zig-zag, then base-128 varint, least significant group
    first. Court sequence numbers up to 2**20 take at most three bytes, built without the
    loop."""
    if 0 <= n < 8192:
        return _SMALL[n]
    if 0 < n < 1 << 20:
        z = n << 1
        return bytes(((z & 0x7F) | 0x80, ((z >> 7) & 0x7F) | 0x80, z >> 14))
    return _avro_long(n)


def avro_string(s: str) -> bytes:
    """Avro `string`: its UTF-8 length as a long, then the bytes."""
    b = s.encode("utf-8")
    n = len(b)
    return (_SMALL[n] if n < 8192 else _avro_long(n)) + b


def micros(t: datetime) -> int:
    """timestamp-micros of an aware datetime, exactly as fastavro computes it."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds

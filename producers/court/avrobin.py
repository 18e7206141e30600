"""Avro binary encoding of the primitives the court's workers splice (Avro spec, "Binary
encoding"), shared by `producers.court.prepare` and `producers.court.fastlist`; fastavro
stays the reference (the codec's output is compared with the spliced values)."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.varint import SMALL, varint

__all__ = ["EPOCH", "avro_long", "avro_string", "micros"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


avro_long = varint  # Avro `long` (and `int`): a zig-zag varint (`hub.varint`)


def avro_string(s: str) -> bytes:
    """Avro `string`: its UTF-8 length as a long, then the bytes."""
    b = s.encode("utf-8")
    n = len(b)
    return (SMALL[n] if n < 16384 else varint(n)) + b


def micros(t: datetime) -> int:
    """timestamp-micros of an aware datetime, exactly as fastavro computes it."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds

"""Zig-zag base-128 varints, least significant group first: how Avro writes an `int` or a
`long` (Avro spec, "Binary encoding") and how Kafka's record format v2 writes a record's
lengths, deltas and header counts ("Record" in the protocol guide). The bytes are the same,
so one encoder serves both: the court's Avro splicing (`producers.court.avrobin`) and the
records `hub.fastappend` writes. Tests pin it to fastavro and to kafka-python's
`encode_varint`."""

from __future__ import annotations

__all__ = ["SMALL", "varint"]


def _varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


SMALL = tuple(_varint(n) for n in range(1 << 14))  # 0 ≤ n < 16384, looked up


def varint(n: int) -> bytes:
    """The varint of a signed 64-bit integer. Values below 2**20 (record lengths and
    offsets in a batch, court sequence numbers) are built without the loop."""
    if 0 <= n < 16384:
        return SMALL[n]
    if 0 < n < 1 << 20:
        z = n << 1
        return bytes(((z & 0x7F) | 0x80, ((z >> 7) & 0x7F) | 0x80, z >> 14))
    return _varint(n)

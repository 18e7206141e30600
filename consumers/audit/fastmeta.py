"""Reading a court event's EventMeta straight from its Avro bytes, for the hot path of
`hub audit verify`: every court event begins with `meta` (docs/events.md), so the envelope
is a prefix of the body and a full fastavro decode (and pydantic) is not needed to check
order, chain and Merkle tree. Writer schemas whose layout differs fall back to the codec."""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from hub import codec
from hub.domain.events import COURT_EVENT_TYPES

HEADER = 10  # C3 01 + 8-byte fingerprint
META_FIELDS = ["event_id", "listing_id", "court_code", "court_seq", "decision_no",
               "decided_at", "triggered_at", "recorded_at", "prev_hash"]


class Meta(NamedTuple):
    record: str  # Avro full name
    event_id: str
    listing_id: str
    court_code: str
    court_seq: int
    decided_at_us: int
    triggered_at_us: int | None
    recorded_at_us: int
    prev_hash: bytes


@cache
def _fast_fingerprints() -> dict[bytes, str]:
    out: dict[bytes, str] = {}
    court = {t.AVRO_NAME for t in COURT_EVENT_TYPES}  # type: ignore[attr-defined]
    for fp, version in codec.registry().by_fingerprint.items():
        if version.full_name not in court:
            continue
        fields = version.expanded.get("fields", [])
        meta = fields[0]["type"] if fields and fields[0]["name"] == "meta" else None
        if isinstance(meta, dict) and [f["name"] for f in meta.get("fields", [])] == META_FIELDS:
            out[fp] = version.full_name
    return out


def _long(b: bytes, i: int) -> tuple[int, int]:
    shift = acc = 0
    while True:
        x = b[i]
        i += 1
        acc |= (x & 0x7F) << shift
        if x < 0x80:
            return (acc >> 1) ^ -(acc & 1), i
        shift += 7


def read_meta(value: bytes) -> Meta:
    """The envelope of a court event; raises codec.CodecError on anything else."""
    name = _fast_fingerprints().get(value[2:HEADER]) if value[:2] == b"\xc3\x01" else None
    if name is None:
        full, rec = codec.decode_dict(value)
        m = rec.get("meta")
        if not isinstance(m, dict):
            raise codec.DecodeError(f"{full} is not a court event")
        ts = m["triggered_at"]
        return Meta(full, m["event_id"], m["listing_id"], m["court_code"], m["court_seq"],
                    _us(m["decided_at"]), None if ts is None else _us(ts),
                    _us(m["recorded_at"]), m["prev_hash"])
    try:
        i = HEADER
        out: list[object] = []
        for _ in range(3):
            n, i = _long(value, i)
            out.append(value[i:i + n].decode())
            i += n
        seq, i = _long(value, i)
        n, i = _long(value, i)
        i += n  # decision_no
        decided, i = _long(value, i)
        branch, i = _long(value, i)
        triggered = None
        if branch:
            triggered, i = _long(value, i)
        recorded, i = _long(value, i)
        n, i = _long(value, i)
        prev = value[i:i + n]
        if len(prev) != n or n < 0:
            raise IndexError("truncated prev_hash")
    except (IndexError, UnicodeDecodeError) as e:
        raise codec.DecodeError(f"{name}: malformed meta: {e}") from e
    return Meta(name, out[0], out[1], out[2], seq, decided, triggered,  # type: ignore[arg-type]
                recorded, prev)


def _us(dt: object) -> int:
    from datetime import UTC, datetime
    assert isinstance(dt, datetime)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds

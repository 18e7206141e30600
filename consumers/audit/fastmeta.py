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
        b = value
        out: list[str] = []
        for _ in range(3):  # event_id, listing_id, court_code
            x = b[i]  # a length below 64 is one even byte (zigzag): the usual case
            if x < 0x80 and not x & 1:
                n, i = x >> 1, i + 1
            else:
                n, i = _long(b, i)
                if n < 0:
                    raise IndexError("negative length")
            out.append(b[i:i + n].decode())
            i += n
        x = b[i]
        if x < 0x80:
            seq, i = (x >> 1) ^ -(x & 1), i + 1
        else:
            seq, i = _long(b, i)
        x = b[i]  # decision_no
        if x < 0x80 and not x & 1:
            i += 1 + (x >> 1)
        else:
            n, i = _long(b, i)
            i += n
        decided, i = _long(b, i)
        if b[i]:  # union branch 1: triggered_at present
            triggered, i = _long(b, i + 1)
        else:
            triggered, i = None, i + 1
        recorded, i = _long(b, i)
        if b[i] == 0x40:  # 32-byte prev_hash: the only length the hub writes
            prev = b[i + 1:i + 33]
            n = 32
        else:
            n, i = _long(b, i)
            prev = b[i:i + n]
        if len(prev) != n or n < 0:
            raise IndexError("truncated prev_hash")
    except (IndexError, UnicodeDecodeError) as e:
        raise codec.DecodeError(f"{name}: malformed meta: {e}") from e
    return Meta(name, out[0], out[1], out[2], seq, decided, triggered, recorded, prev)


def _us(dt: object) -> int:
    from datetime import UTC, datetime
    assert isinstance(dt, datetime)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds

"""The stateless half of `hub court submit`, run in worker processes (both cores).

Parsing, validation, the content hash, the event id and most of the event's Avro bytes
depend on one line only; what depends on the court store (court_seq, prev_hash,
recorded_at) sits in `EventMeta`, the first field of every court event. Its Avro encoding
is a concatenation of field encodings (Avro spec, "Binary encoding": a record is its
fields in order), so a worker encodes everything else once and the main process splices
in the three store-assigned fields:

    value = pre + long(court_seq) + mid + long(recorded_at) + bytes(prev_hash) + post

`Pieces` checks its own prefix against fastavro's output for every line, so a change of
the EventMeta layout fails loudly instead of producing wrong bytes. For `list` decisions
the worker also returns the provisional listing state (`apply(None, event)`: a new
listing's state depends on its event only) as JSON with a placeholder sequence, which the
main process uses when the listing is new to the store and to the file."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from hub import codec
from hub.config import Settings
from hub.domain.decisions import Decision, ListDecision, meta_for, parse_numbered, to_event
from hub.domain.events import event_id_for
from hub.domain.listing import DomainError, apply
from hub.keys import court_signer, load_signing_key
from hub.ledger import SigningKey

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The placeholder sequence of a provisional state: the key can only appear once, unescaped,
# in a JSON document (quotes inside strings are escaped), so replacing it is exact.
SEQ_PLACEHOLDER = '"last_court_seq":0,'


class Prepared(NamedTuple):
    """One valid decision, ready for the store (everything but court_seq, prev_hash,
    recorded_at)."""

    line: int
    court_code: str
    decision_no: str
    listing_id: str
    action: str
    decided_at: datetime
    content_hash: bytes
    event_id: str
    pre: bytes  # single-object header, then Avro of meta.event_id, listing_id, court_code
    mid: bytes  # Avro of meta.decision_no, decided_at, triggered_at
    post: bytes  # Avro of the event's fields after meta
    new_state: str | None  # JSON of apply(None, event) for `list`, seq placeholder


# --------------------------------------------------------------------- Avro primitives


def avro_long(n: int) -> bytes:
    """Avro `long`: zig-zag, then base-128 varint, least significant group first."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def avro_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return avro_long(len(b)) + b


def micros(t: datetime) -> int:
    """timestamp-micros of an aware datetime, exactly as fastavro computes it."""
    d = t - EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def content_hash(decision: Decision) -> bytes:
    """Same content ⇔ same hash (court-decisions.md: resubmitting a decision is a no-op)."""
    return hashlib.sha256(decision.canonical().encode("utf-8")).digest()


def splice(p: Prepared, court_seq: int, recorded_us: int, prev_hash: bytes) -> bytes:
    return b"".join((
        p.pre, avro_long(court_seq), p.mid, avro_long(recorded_us),
        avro_long(len(prev_hash)), prev_hash, p.post,
    ))


# ------------------------------------------------------------------------ the worker


def _prepare(d: ListDecision, line: int) -> Prepared:
    # Placeholders for the store's fields; `post` does not depend on them.
    meta = meta_for(d, court_seq=0, prev_hash=b"", recorded_at=EPOCH)
    event = to_event(d, meta)
    full = codec.encode_dict(event.AVRO_NAME, event.model_dump())
    pre = avro_string(meta.event_id) + avro_string(meta.listing_id) + avro_string(meta.court_code)
    trig = b"\x00" if meta.triggered_at is None else b"\x02" + avro_long(micros(meta.triggered_at))
    mid = avro_string(meta.decision_no) + avro_long(micros(meta.decided_at)) + trig
    h = codec.HEADER_SIZE
    # court_seq 0, recorded_at 0 (epoch) and an empty prev_hash each encode as one 0 byte.
    expected = pre + b"\x00" + mid + b"\x00\x00"
    if full[h : h + len(expected)] != expected:
        raise RuntimeError("EventMeta is no longer the layout producers.court.prepare splices")
    try:
        new_state: str | None = apply(None, event).model_dump_json()
    except DomainError:
        new_state = None  # the main process re-runs the decision and reports the problem
    if new_state is not None and SEQ_PLACEHOLDER not in new_state:
        raise RuntimeError("provisional state JSON lost its sequence placeholder")
    return Prepared(
        line, d.court_code, d.decision_no, d.listing_id, d.action, d.decided_at,
        content_hash(d), meta.event_id, full[:h] + pre, mid, full[h + len(expected):], new_state,
    )


Errors = list[tuple[int | None, str | None, str]]


def prepare_chunk(chunk: Sequence[tuple[int, str]]) -> tuple[list[Prepared], Errors]:
    """Parse and prepare (line number, text) pairs; blank lines are skipped. Errors come
    back as (line, key, reason) tuples (DecisionError does not pickle)."""
    out: list[Prepared] = []
    errors: Errors = []
    for line, text in chunk:
        if not text.strip():
            continue
        result = parse_numbered(text, line)
        if isinstance(result, list):
            errors.extend((e.line, e.key, e.reason) for e in result)
        elif errors:  # a refused file needs its errors only
            continue
        elif isinstance(result, ListDecision):
            out.append(_prepare(result, line))
        else:
            # Decisions on existing listings take the plain path in the main process
            # (state needed); only what the store's reads and checks need comes back.
            out.append(Prepared(
                line, result.court_code, result.decision_no, result.listing_id, result.action,
                result.decided_at, content_hash(result),
                event_id_for(result.court_code, result.decision_no), b"", b"", b"", None,
            ))
    return out, errors


_KEYS: dict[tuple[str, str], SigningKey] = {}


def sign_chunk(args: tuple[Settings, str, list[bytes]]) -> list[bytes]:
    """Signatures of one court's values (the key file was created by the main process)."""
    s, code, values = args
    cache = (str(s.keys_dir), code)
    key = _KEYS.get(cache)
    if key is None:
        key = load_signing_key(s, court_signer(code))
        if key is None:
            raise RuntimeError(f"no signing key for court {code}")
        _KEYS[cache] = key
    sign = key.sign
    return [sign(v) for v in values]

"""COPY rows of the court store as `hub court submit` writes them, each column formatted
for its known type: the same text as `store.copy_line` of the row (decisions), or the same
bytes as `store.binary_row` (the outbox and listings, whose bytea values and JSON states the
server then takes as they are instead of parsing hex or undoing escapes;
tests/unit/test_court_fastpath.py), built faster."""

from __future__ import annotations

import struct
from collections.abc import Iterable

from hub.domain.listing import ListingState
from producers.court import store

# `*_t` arguments are already COPY text (store.copy_str).


def decision_line(
    code_t: str, decision_no: str, lid_t: str, action: str, decided_t: str, seq: int,
    event_id: str, hash_: bytes, recorded_t: str,
) -> str:
    """DECISION_COLUMNS: action and event_id never need escaping (fixed words, UUIDs);
    `decided_t` is str() of the datetime, as store.copy_text writes it."""
    return (
        f"{code_t}\t{store.copy_str(decision_no)}\t{lid_t}\t{action}\t{decided_t}"
        f"\t{seq}\t{event_id}\t\\\\x{hash_.hex()}\t{recorded_t}\n"
    )


_FIELDS = struct.pack(">h", 7)  # an outbox row's field count


def outbox_prefix(code_f: bytes, seq: int, event_id: str, lid_f: bytes) -> bytes:
    """OUTBOX_COLUMNS in COPY binary format (`store.copy_binary`) up to the value;
    `code_f`, `lid_f`: `store.binary_field` of the court code and the listing id."""
    eid = event_id.encode()
    return b"".join((_FIELDS, code_f, store.INT8_FIELD(8, seq), store.INT4(len(eid)), eid,
                     lid_f))


def outbox_line(prefix: bytes, value: bytes, sig: bytes, signer_f: bytes) -> bytes:
    """The binary row, from `outbox_prefix` and what the signature adds (`signer_f`:
    `store.binary_field` of the signer)."""
    int4 = store.INT4
    return b"".join((prefix, int4(len(value)), value, int4(len(sig)), sig, signer_f))


_LISTING_FIELDS = struct.pack(">h", 5)  # a listings row's field count


def listing_line(lid: str, code_f: bytes, state: bytes, recorded_f: bytes, subject_id: str
                 ) -> bytes:
    """The listings columns (listing_id, court_code, state, updated_at, subject_id) in COPY
    binary format: a text column's binary form is its UTF-8, so the state (UTF-8 JSON from
    the workers) goes as it is, with no escaping for the server to undo. `code_f`,
    `recorded_f`: `store.binary_field` of the court code and of the time recorded."""
    lid_b, sid_b, int4 = lid.encode(), subject_id.encode(), store.INT4
    return b"".join((
        _LISTING_FIELDS, int4(len(lid_b)), lid_b, code_f, int4(len(state)), state, recorded_f,
        int4(len(sid_b)), sid_b,
    ))


def listing_lines(
    states: dict[str, ListingState | bytes], subjects: dict[str, str], changed: dict[str, str],
    recorded_f: bytes, skip: set[str] | frozenset[str] = frozenset(),
) -> Iterable[bytes]:
    """`listing_line` of each `changed` listing; `subjects`: the subject ID number of each
    state still in JSON."""
    # A listing's court is the court of each of its decisions (apply: RULE_IDENTITY).
    fields: dict[str, bytes] = {}
    for lid, code in changed.items():
        if lid in skip:
            continue
        code_f = fields.get(code)
        if code_f is None:
            code_f = fields[code] = store.binary_field(code)
        st = states[lid]
        if isinstance(st, bytes):
            yield listing_line(lid, code_f, st, recorded_f, subjects[lid])
        else:
            yield listing_line(lid, code_f, st.model_dump_json().encode(), recorded_f,
                               st.subject.id_number)

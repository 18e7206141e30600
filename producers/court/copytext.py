"""COPY rows of the court store as `hub court submit` writes them, each column formatted
for its known type: the same text as `store.copy_line` of the row (decisions, listings), or
the same bytes as `store.binary_row` (the outbox, whose bytea values the server then takes
as they are instead of parsing their hex; tests/unit/test_court_fastpath.py), built
faster."""

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


def listing_line(lid: str, code: str, state: bytes, recorded_t: bytes, subject_id: str) -> bytes:
    """In bytes: a state is UTF-8 JSON from the workers, sent as it is."""
    copy_str = store.copy_str
    return b"".join((
        copy_str(lid).encode(), b"\t", copy_str(code).encode(), b"\t", store.copy_bytes(state),
        b"\t", recorded_t, b"\t", copy_str(subject_id).encode(), b"\n",
    ))


def listing_lines(
    states: dict[str, ListingState | bytes], subjects: dict[str, str], changed: dict[str, str],
    recorded_t: bytes, skip: set[str] | frozenset[str] = frozenset(),
) -> Iterable[bytes]:
    """The listings columns (listing_id, court_code, state, updated_at, subject_id) of the
    `changed` listings; `subjects`: the subject ID number of each state still in JSON."""
    # A listing's court is the court of each of its decisions (apply: RULE_IDENTITY).
    for lid, code in changed.items():
        if lid in skip:
            continue
        st = states[lid]
        if isinstance(st, bytes):
            yield listing_line(lid, code, st, recorded_t, subjects[lid])
        else:
            yield listing_line(lid, code, st.model_dump_json().encode(), recorded_t,
                               st.subject.id_number)

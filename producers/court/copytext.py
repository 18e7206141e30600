"""COPY rows of the court store as `hub court submit` writes them, each column formatted
for its known type: the same bytes as `store.binary_row` of the row (binary format, whose
times, bytea values and JSON states the server takes as they are instead of parsing text,
hex or escapes; tests/unit/test_court_fastpath.py), built faster."""

from __future__ import annotations

import struct
from collections.abc import Iterable

from hub.domain.listing import ListingState
from producers.court import store

_DECISION_FIELDS = struct.pack(">h", 9)  # a decisions row's field count


def decision_line(
    code_f: bytes, decision_no: str, lid_f: bytes, action_f: bytes, decided_f: bytes,
    seq: int, eid_f: bytes, hash_: bytes, recorded_f: bytes,
) -> bytes:
    """DECISION_COLUMNS in COPY binary format (`store.copy_binary`); `*_f`: the
    `store.binary_field` of the court code, listing id, action, the two times and the
    event id. Binary rather than text: the server parsed two timestamps and a hex hash per
    row, 0.99 s against 0.78 s for 200k rows (issue #4)."""
    no, int4 = decision_no.encode(), store.INT4
    return b"".join((
        _DECISION_FIELDS, code_f, int4(len(no)), no, lid_f, action_f, decided_f,
        store.INT8_FIELD(8, seq), eid_f, int4(len(hash_)), hash_, recorded_f,
    ))


_FIELDS = struct.pack(">h", 7)  # an outbox row's field count


def outbox_prefix(code_f: bytes, seq: int, eid_f: bytes, lid_f: bytes) -> bytes:
    """OUTBOX_COLUMNS in COPY binary format (`store.copy_binary`) up to the value;
    `code_f`, `eid_f`, `lid_f`: `store.binary_field` of the court code, the event id and
    the listing id."""
    return b"".join((_FIELDS, code_f, store.INT8_FIELD(8, seq), eid_f, lid_f))


def outbox_line(prefix: bytes, value: bytes, sig: bytes, signer_f: bytes) -> bytes:
    """The binary row, from `outbox_prefix` and what the signature adds (`signer_f`:
    `store.binary_field` of the signer)."""
    int4 = store.INT4
    return b"".join((prefix, int4(len(value)), value, int4(len(sig)), sig, signer_f))


_LISTING_FIELDS = struct.pack(">h", 6)  # a listings row's field count
_NULL = store.INT4(-1)


def listing_line(lid: str, code_f: bytes, state: bytes | None, recorded_f: bytes,
                 subject_id: str, subject_name: str) -> bytes:
    """The listings columns (listing_id, court_code, state, updated_at, subject_id,
    subject_name) in COPY binary format: a text column's binary form is its UTF-8, so a
    state (UTF-8 JSON) goes as it is, with no escaping for the server to undo; None: NULL,
    a listing as its listing event left it (migration 7). `code_f`, `recorded_f`:
    `store.binary_field` of the court code and of the time recorded."""
    lid_b, sid_b, name_b, int4 = lid.encode(), subject_id.encode(), subject_name.encode(), store.INT4
    return b"".join((
        _LISTING_FIELDS, int4(len(lid_b)), lid_b, code_f,
        _NULL if state is None else int4(len(state)), state or b"", recorded_f,
        int4(len(sid_b)), sid_b, int4(len(name_b)), name_b,
    ))


def listing_lines(
    states: dict[str, ListingState | bytes], subjects: dict[str, tuple[str, str]],
    changed: dict[str, str], recorded_f: bytes, skip: set[str] | frozenset[str] = frozenset(),
) -> Iterable[bytes]:
    """`listing_line` of each `changed` listing. A state that is still its listing event's
    value (bytes) is stored as NULL, with its subject (ID number, name) from `subjects`."""
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
            yield listing_line(lid, code_f, None, recorded_f, *subjects[lid])
        else:
            yield listing_line(lid, code_f, st.model_dump_json().encode(), recorded_f,
                               st.subject.id_number, st.subject.name)

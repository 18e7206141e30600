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


text_field = store.text_field


def subject_fields(subject_id: str, subject_name: str) -> bytes:
    """The listings row's last two columns (subject_id, subject_name), built by the
    workers for a listing's first event (`prepare.prepare_lines`)."""
    return text_field(subject_id) + text_field(subject_name)


def new_listing_line(lid_f: bytes, code_f: bytes, recorded_f: bytes, subject_f: bytes
                     ) -> bytes:
    """The listings row of a listing as its listing event left it: no state stored
    (migration 7). `*_f`: `store.binary_field` of the listing id, court code, time recorded
    and (`subject_fields`) the subject."""
    return b"".join((_LISTING_FIELDS, lid_f, code_f, _NULL, recorded_f, subject_f))


def listing_line(lid: str, code_f: bytes, state: bytes | None, recorded_f: bytes,
                 subject_id: str, subject_name: str) -> bytes:
    """The listings columns (listing_id, court_code, state, updated_at, subject_id,
    subject_name) in COPY binary format: a text column's binary form is its UTF-8, so a
    state (UTF-8 JSON) goes as it is, with no escaping for the server to undo; None: NULL,
    a listing as its listing event left it (migration 7). `code_f`, `recorded_f`:
    `store.binary_field` of the court code and of the time recorded."""
    state_f = _NULL if state is None else store.INT4(len(state)) + state
    return b"".join((_LISTING_FIELDS, text_field(lid), code_f, state_f, recorded_f,
                     subject_fields(subject_id, subject_name)))


def listing_lines(
    states: dict[str, ListingState | bytes], fresh: dict[str, bytes],
    changed: dict[str, str], recorded_f: bytes, skip: set[str] | frozenset[str] = frozenset(),
) -> Iterable[bytes]:
    """The listings row of each `changed` listing: `fresh[lid]` (`new_listing_line`) where
    its state is still its listing event's value (bytes), else its state's."""
    # A listing's court is the court of each of its decisions (apply: RULE_IDENTITY).
    fields: dict[str, bytes] = {}
    for lid, code in changed.items():
        if lid in skip:
            continue
        st = states[lid]
        if isinstance(st, bytes):
            yield fresh[lid]
            continue
        code_f = fields.get(code)
        if code_f is None:
            code_f = fields[code] = store.binary_field(code)
        yield listing_line(lid, code_f, st.model_dump_json().encode(), recorded_f,
                           st.subject.id_number, st.subject.name)


PIECE = 1 << 20  # bytes: a COPY read's worth (store.COPY_READ)


class Rows:
    """COPY rows gathered into pieces of about PIECE bytes, which `store.copy_binary`
    takes as they are: no object kept a row (200k of them, then their joining)."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._buf = bytearray()
        self.count = 0

    def add(self, row: bytes) -> None:
        buf = self._buf
        buf += row
        self.count += 1
        if len(buf) >= PIECE:
            self._pieces.append(bytes(buf))
            buf.clear()

    def pieces(self) -> list[bytes]:
        if self._buf:
            self._pieces.append(bytes(self._buf))
            self._buf.clear()
        return self._pieces

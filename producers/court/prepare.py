"""The stateless half of `hub court submit`, run in worker processes (both cores).

Parsing, validation, the content hash, the event id and most of the event's Avro bytes
depend on one line only; what depends on the court store (court_seq, prev_hash,
recorded_at) sits in `EventMeta`, the first field of every court event. Its Avro encoding
is a concatenation of field encodings (Avro spec, "Binary encoding": a record is its
fields in order), so a worker encodes everything else once and the main process splices
in the three store-assigned fields:

    value = pre + long(court_seq) + mid + long(recorded_at) + bytes(prev_hash) + post

`_prepare` checks its own prefix against fastavro's output for every line, so a change of
the EventMeta layout fails loudly instead of producing wrong bytes. For `list` decisions
the worker also checks that the event lists the listing (`apply(None, event)`: a new
listing's state depends on its event only) and returns the subject's ID number and name,
the listing's columns beside its state; the state itself is the fold of the event
(`store.listed_state`), not stored until a later decision changes it (migration 7).

Two paths build a `Prepared`: plain `list` lines take `producers.court.fastlist` (no
pydantic: ~30 µs instead of ~165 µs a line), everything else and every line it declines
the plain path here (`slow_prepare`), which alone reports errors. The first fast line of
every chunk is also prepared the plain way and must give the same `Prepared`
(tests/unit/test_court_fastpath.py proves the two agree on any line)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from hub import codec
from hub.config import Settings
from hub.domain.decisions import Decision, ListDecision, meta_for, parse_numbered, to_event
from hub.domain.events import event_id_for
from hub.domain.listing import DomainError, apply
from hub.keys import court_signer, load_signing_key
from hub.ledger import SigningKey, leaf_hash
from hub.partitioner import murmur2
from producers.court.avrobin import EPOCH, avro_long, avro_string, micros
from producers.court.copytext import subject_fields
from producers.court.fastlist import prepare_list


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
    # A `list` decision whose event lists its listing (apply(None, event) accepts it): the
    # subject's ID number and name (listings columns); None for other decisions, and where
    # apply refuses (the main process runs the decision again and reports why).
    subject_id: str | None
    subject_name: str | None = None
    # hub.partitioner.murmur2 of the listing_id's UTF-8: the relay's partition for the event,
    # computed here, where both cores work, rather than in the relay (set by prepare_lines)
    key_hash: int | None = None


# --------------------------------------------------------------------------- helpers


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
        subject = apply(None, event).subject
    except DomainError:
        subject = None  # the main process re-runs the decision and reports the problem
    return Prepared(
        line, d.court_code, d.decision_no, d.listing_id, d.action, d.decided_at,
        content_hash(d), meta.event_id, full[:h] + pre, mid, full[h + len(expected):],
        None if subject is None else subject.id_number, None if subject is None else subject.name,
    )


Errors = list[tuple[int | None, str | None, str]]
T = TypeVar("T")


def slow_prepare(text: str, line: int) -> Prepared | list[tuple[int | None, str | None, str]]:
    """The plain path of one line: pydantic parsing and validation, then `_prepare`."""
    result = parse_numbered(text, line)
    if isinstance(result, list):
        return [(e.line, e.key, e.reason) for e in result]
    if isinstance(result, ListDecision):
        return _prepare(result, line)
    # Decisions on existing listings take the plain path in the main process (state
    # needed); only what the store's reads and checks need comes back.
    return Prepared(
        line, result.court_code, result.decision_no, result.listing_id, result.action,
        result.decided_at, content_hash(result),
        event_id_for(result.court_code, result.decision_no), b"", b"", b"", None,
    )


def check_fast(text: str, line: int, fast: Prepared) -> None:
    """The fast path's `Prepared` must be the slow path's, field by field."""
    slow = slow_prepare(text, line)
    if slow != fast:
        raise RuntimeError(
            f"line {line}: producers.court.fastlist disagrees with the plain path"
        )


def prepare_chunk(chunk: Iterable[tuple[int, str]]) -> tuple[list[Prepared], Errors]:
    """Parse and prepare (line number, text) pairs; blank lines are skipped. Errors come
    back as (line, key, reason) tuples (DecisionError does not pickle).

    Plain `list` lines take `fastlist.prepare_list`; every other line, and any line it
    declines, the plain path. The first fast line of every chunk is also prepared the
    plain way and compared (RuntimeError if they differ)."""
    return _prepare_each(chunk, _prepared, _as_is)


def prepare_lines(task: tuple[int, list[str]]) -> tuple[list[tuple[Any, ...]], Errors]:
    """`prepare_chunk` of consecutive lines numbered from `task[0]`, for worker processes:
    each `Prepared` as a plain tuple (they pickle and unpickle in about half the time of
    named tuples; `item`): its fields up to `post`, then the subject's two listings columns
    in COPY binary form (`copytext.subject_fields`, None without a subject), then the
    `key_hash`. A fast-path line goes straight to that tuple (`_fast_item`)."""
    first, lines = task
    return _prepare_each(enumerate(lines, start=first), _fast_item, item)


def item(p: Prepared) -> tuple[Any, ...]:
    """The tuple `prepare_lines` gives for `p`."""
    return (*p[:-3], None if p.subject_id is None else subject_fields(
        p.subject_id, p.subject_name or ""), murmur2(p.listing_id.encode("utf-8")))


def _fast_item(line: int, fast: Sequence[Any]) -> tuple[Any, ...]:
    """`item(Prepared(line, *fast))` of a fast-path line (`fastlist.Fast`)."""
    return (line, *fast[:-2], subject_fields(fast[-2], fast[-1]),
            murmur2(fast[_LISTING_ID].encode("utf-8")))


def _prepared(line: int, fast: Sequence[Any]) -> Prepared:
    return Prepared(line, *fast)


def _as_is(p: Prepared) -> Prepared:
    return p


_LISTING_ID = Prepared._fields.index("listing_id") - 1  # in `fastlist.Fast`: after `line`


def _prepare_each(chunk: Iterable[tuple[int, str]], fast_item: Callable[[int, Sequence[Any]], T],
                  slow_item: Callable[[Prepared], T]) -> tuple[list[T], Errors]:
    """`prepare_chunk`'s rule, each line's result made by `fast_item` (from its number and
    `fastlist.prepare_list`'s fields) or `slow_item` (from a plain-path `Prepared`)."""
    out: list[T] = []
    errors: Errors = []
    checked = False
    for line, text in chunk:
        if not text.strip():
            continue
        if not errors:
            fast = prepare_list(text)
            if fast is not None:
                if not checked:
                    check_fast(text, line, Prepared(line, *fast))
                    checked = True
                out.append(fast_item(line, fast))
                continue
        result = slow_prepare(text, line)
        if isinstance(result, list):
            errors.extend(result)
        elif not errors:  # a refused file needs its errors only
            out.append(slow_item(result))
    return out, errors


# The text of files being submitted, by token, put here by the main process BEFORE it forks
# its workers: they inherit it, so a task names a range of lines instead of carrying them.
_INHERITED: dict[int, list[str]] = {}


def inherit(token: int, lines: list[str] | None) -> None:
    """Make `lines` readable by workers forked from now on (None: forget them)."""
    if lines is None:
        _INHERITED.pop(token, None)
    else:
        _INHERITED[token] = lines


def prepare_range(task: tuple[int, int, int]) -> tuple[list[tuple[Any, ...]], Errors]:
    """`prepare_lines` of lines [lo, hi) (0-based) of the inherited file `token`."""
    token, lo, hi = task
    return prepare_lines((lo + 1, _INHERITED[token][lo:hi]))


_KEYS: dict[tuple[str, str], SigningKey] = {}


def sign_chunk(args: tuple[Settings, str, list[bytes]]) -> tuple[list[bytes], list[bytes]]:
    """Signatures of one court's values (the key file was created by the main process), and
    their Merkle leaf hashes (RFC 9162), which the relay folds into the court's log."""
    s, code, values = args
    cache = (str(s.keys_dir), code)
    key = _KEYS.get(cache)
    if key is None:
        key = load_signing_key(s, court_signer(code))
        if key is None:
            raise RuntimeError(f"no signing key for court {code}")
        _KEYS[cache] = key
    sign = key.sign
    return [sign(v) for v in values], [leaf_hash(v) for v in values]

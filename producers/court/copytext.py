"""COPY text of the court store's rows as `hub court submit` writes them, each column
formatted for its known type: the same text as `store.copy_line` of the row
(tests/unit/test_court_fastpath.py), built faster."""

from __future__ import annotations

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


def outbox_prefix(code_t: str, seq: int, event_id: str, lid_t: str) -> str:
    return f"{code_t}\t{seq}\t{event_id}\t{lid_t}\t\\\\x"


def outbox_line(prefix: str, value: bytes, sig: bytes, signer_t: str) -> str:
    """OUTBOX_COLUMNS, from `_outbox_prefix` and what the signature adds."""
    return f"{prefix}{value.hex()}\t\\\\x{sig.hex()}\t{signer_t}\n"


def listing_line(lid: str, code: str, state: bytes, recorded_t: bytes) -> bytes:
    """In bytes: a state is UTF-8 JSON from the workers, sent as it is."""
    copy_str = store.copy_str
    return b"".join((
        copy_str(lid).encode(), b"\t", copy_str(code).encode(), b"\t", store.copy_bytes(state),
        b"\t", recorded_t, b"\n",
    ))


def listing_lines(
    states: dict[str, ListingState | bytes], changed: dict[str, str], recorded_t: bytes,
    skip: set[str] | frozenset[str] = frozenset(),
) -> Iterable[bytes]:
    # A listing's court is the court of each of its decisions (apply: RULE_IDENTITY).
    for lid, code in changed.items():
        if lid in skip:
            continue
        st = states[lid]
        state = st if isinstance(st, bytes) else st.model_dump_json().encode()
        yield listing_line(lid, code, state, recorded_t)

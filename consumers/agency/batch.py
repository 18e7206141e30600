"""What one polled batch is made of, on its way through the fold: the records as polled
(`Inbound`), waiting for their signature checks (`Pending`), decoded (`Decoded`), and
everything the batch writes (`Changes`), with the chain links it reads and adds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consumers.agency import acks
from consumers.agency.verifier import Ticket
from hub.domain.events import CourtEvent
from hub.domain.listing import ListingState
from hub.domain.punishment import ActiveMeasure
from hub.outbox import OutboxRecord

SpanKey = tuple[str, str, str, str]  # listing_id, code, id_number, role


@dataclass(frozen=True)
class Inbound:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass
class Pending:
    """A polled batch whose signatures are being checked (`Folder.submit`)."""

    records: list[Inbound]
    early: dict[int, tuple[str, str]]  # record index -> (kind, reason): failed before crypto
    signers: list[str]  # per record
    index: list[int]  # ticket item -> record index
    ticket: Ticket


@dataclass(frozen=True)
class Decoded:
    rec: Inbound
    event: CourtEvent | None
    kind: str = ""
    reason: str = ""


def chain_keys(
    decoded: Iterable[Decoded], recorded: dict[str, int] | None = None
) -> tuple[list[tuple[str, int]], list[str]]:
    """(court, seq) neighbours and event ids the chain check of these events reads.
    `recorded`: the highest court_seq the projection holds per court (court_positions);
    a key above it cannot be in the chain table, so it is not looked up (reading forward,
    that is most of them)."""
    keys: set[tuple[str, int]] = set()
    ids: list[str] = []
    for d in decoded:
        if d.event is not None:
            m = d.event.meta
            keys.update((m.court_code, m.court_seq + i) for i in (-1, 0, 1))
            ids.append(m.event_id)
    if recorded is not None:
        keys = {k for k in keys if k[1] <= recorded.get(k[0], 0)}
    return sorted(keys), ids


@dataclass(frozen=True)
class ChainLink:
    court_code: str
    court_seq: int
    event_id: str
    hash: bytes
    prev_hash: bytes


@dataclass
class Span:
    m: ActiveMeasure
    valid_from: datetime
    event_id: str
    valid_to: datetime | None = None


@dataclass
class Changes:
    """Everything one batch writes."""

    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    listings: dict[str, tuple[ListingState, bool, bool]] = field(default_factory=dict)
    persons_replaced: dict[str, ListingState] = field(default_factory=dict)
    spans_opened: list[Span] = field(default_factory=list)
    spans_closed: dict[SpanKey, datetime] = field(default_factory=dict)  # open DB spans
    history: list[tuple[Any, ...]] = field(default_factory=list)
    chain: list[ChainLink] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    dead: list[tuple[Inbound, str, str]] = field(default_factory=list)  # record, kind, reason
    outbox: list[OutboxRecord] = field(default_factory=list)
    acks: list[acks.Ack] = field(default_factory=list)
    applied: int = 0
    skipped: int = 0
    existing: set[str] = field(default_factory=set)  # listings in the projection before

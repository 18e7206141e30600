"""Believed court events and acknowledgements, decoded, for the auditor's reports (state,
trail, compliance). Only records whose signature verifies against their own court or unit
are used (hub.signed.verify_record); the others are `hub audit verify`'s business and are
skipped here with a warning."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from consumers.audit import replay
from hub import codec
from hub.config import Settings
from hub.domain.events import UnitAcknowledged, acknowledgements
from hub.keys import load_trust
from hub.ledger import LedgerError
from hub.log import get_logger
from hub.signed import verify_record

log = get_logger("audit")


def _believed(s: Settings, topics: list[str], label: str, progress: bool,
              listing_id: str | None) -> Iterator[Any]:
    """Models of the records on `topics` whose signature verifies, optionally only one
    listing's (key = listing_id); the others are skipped with a warning."""
    trust = load_trust(s)
    key = listing_id.encode() if listing_id is not None else None
    for r in replay.read(s, topics, progress=progress, label=label):
        if key is not None and r.key != key and not keyed_by_unit(s, r):
            continue
        try:
            yield verify_record(trust, r.value, r.headers).model
        except (LedgerError, codec.CodecError) as e:
            log.warning("record skipped", topic=r.topic, partition=r.partition,
                        offset=r.offset, reason=str(e))


def court_events(s: Settings, *, progress: bool = True,
                 listing_id: str | None = None) -> Iterator[Any]:
    """Court events (models), once each, in partition order: a listing's events share a
    partition (key = listing_id), so each listing's events come in court_seq order."""
    seen: dict[str, set[int]] = {}
    for model in _believed(s, [s.court_topic], "court events", progress, listing_id):
        meta = getattr(model, "meta", None)
        if meta is None:
            continue
        done = seen.setdefault(meta.court_code, set())
        if meta.court_seq in done:  # a duplicate copy: verify names it
            continue
        done.add(meta.court_seq)
        yield model


def keyed_by_unit(s: Settings, r: Any) -> bool:
    """A signed batch or unit checkpoint (key = the unit's slug, not a listing)."""
    return r.key is not None and s.ack_topic(r.key.decode("utf-8", "replace")) == r.topic


def acks(s: Settings, *, progress: bool = True,
         listing_id: str | None = None) -> Iterator[UnitAcknowledged]:
    """Every believed acknowledgement in the old one-record form: old UnitAcknowledged
    records as they are, and each entry of a signed UnitAckBatch (readers keep the first
    per event and unit)."""
    for model in _believed(s, replay.ack_topics(s), "acks", progress, listing_id):
        for ack in acknowledgements(model):
            if listing_id is None or ack.listing_id == listing_id:
                yield ack


def republication(s: Settings, *, progress: bool = True) -> Iterator[Any]:
    """Believed deletion notices and confirmations (court.republication.v1)."""
    yield from _believed(s, [s.republication_topic], "republication", progress, None)

"""The fold of one batch of court records into a unit's projection.

`fold_batch` is given what the store loaded (listing states, chain neighbours, stored
offsets) and returns every row to write, so one poll becomes one transaction
(`store.write`). Per record: signature (the checks of hub.signed.verify_record; the
Ed25519 part in a worker process, `verifier.py`), decode, hash chain,
`hub.domain.listing.apply`; any failure dead-letters the record and the fold goes on
(design.md, "Fail loudly, dead-letter precisely").

Measures follow hub.domain.punishment: only events that concern the unit change them
(`concerns_any`, measures.md Notes); every event still updates the listing's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from consumers.agency import acks
from consumers.agency.batch import ChainLink, Changes, Decoded, Inbound, Pending, Span, SpanKey
from consumers.agency.fastcodec import FastDecoder
from consumers.agency.verifier import Item, Ticket, Verifier, failures
from hub.config import Settings
from hub.domain.catalogue import Catalogue
from hub.domain.events import (
    COURT_EVENT_TYPES,
    PROCEDURE_EVENT_TYPES,
    AckTrigger,
    CourtEvent,
    DebtorListed,
    ListingCorrected,
    MeasureAction,
)
from hub.domain.listing import ListingState, Status, TransitionError, apply, status_at
from hub.domain.punishment import ActiveMeasure, concerns, diff, measures_for
from hub.ledger import (
    GENESIS_HASH,
    LedgerError,
    SignatureError,
    SigningKey,
    TrustStore,
    chain_hash,
    read_signature_headers,
)
from hub.outbox import OutboxRecord
from hub.signed import expected_signer


def structural(state: ListingState | None, unit: str, cat: Catalogue) -> list[ActiveMeasure]:
    """The measures a listing carries regardless of the clock (fixed periods end by the
    span's `until`, Provisions art. 2): empty once shielded or revoked."""
    if state is None:
        return []
    return measures_for(state, unit, state.listed_at, cat)


def bindings(state: ListingState, unit: str, cat: Catalogue) -> list[ActiveMeasure]:
    """Every (measure, person) of the unit the listing would bind if it were current."""
    live = state.model_copy(update={"status": Status.listed, "period_end": None})
    return measures_for(live, unit, state.listed_at, cat)


def dlq_record(s: Settings, unit: str, rec: Inbound, kind: str, reason: str) -> OutboxRecord:
    """The dead letter: original key and value, the cause and origin in headers."""
    return OutboxRecord(
        dedupe_id=f"dlq:{rec.topic}:{rec.partition}:{rec.offset}",
        topic=s.dlq_topic(unit),
        key=rec.key,
        value=rec.value or b"",
        headers=[
            ("hub-dlq-reason", reason.encode()),
            ("hub-dlq-kind", kind.encode()),
            ("hub-dlq-topic", rec.topic.encode()),
            ("hub-dlq-partition", str(rec.partition).encode()),
            ("hub-dlq-offset", str(rec.offset).encode()),
            *[(k, v) for k, v in rec.headers if k.startswith("hub-") and v is not None],
        ],
    )


class Folder:
    """Folds batches for one unit. `trust` is reloaded (by `reload_trust`) when a record
    names a signer the loaded store does not know yet (a court's key added later)."""

    def __init__(
        self,
        s: Settings,
        unit: str,
        key: SigningKey,
        catalogue: Catalogue,
        reload_trust: Callable[[], TrustStore],
    ) -> None:
        self.s = s
        self.unit = unit
        self.key = key
        self.cat = catalogue
        self._reload = reload_trust
        self.trust = reload_trust()
        self._keys: dict[str, bytes] = {}
        self.verifier = Verifier()
        self.decoder = FastDecoder()
        self._memo: dict[int, list[Any]] = {}

    # ------------------------------------------------------------------ verification
    def _public_key(self, signer: str) -> bytes | None:
        key = self._keys.get(signer)
        if key is None:
            if signer not in self.trust:
                # a court's key added after we started: reload once (per unknown signer/batch)
                self.trust = self._reload()
                self._keys.clear()
                if signer not in self.trust:
                    return None
            key = self._keys[signer] = self.trust.public_key(signer)
        return key

    def submit(self, records: Sequence[Inbound], remote: bool = True) -> Pending:
        """Start the signature checks of a polled batch (in the worker process when
        `remote`); the header and trust checks of hub.signed.verify_record happen here."""
        early: dict[int, tuple[str, str]] = {}
        signers: list[str] = []
        items: list[Item] = []
        index: list[int] = []
        for i, rec in enumerate(records):
            try:
                if rec.value is None:
                    raise SignatureError("?", "record has no value")
                found = read_signature_headers(rec.headers)
                if found is None:
                    raise SignatureError(
                        "?", "record is not signed (no hub-sig / hub-signer headers)")
                signer, sig = found
                key = self._public_key(signer)
                if key is None:
                    raise SignatureError(signer, "unknown signer")
            except LedgerError as e:
                early[i] = ("signature", str(e))
                signers.append("?")
                continue
            signers.append(signer)
            items.append((key, sig + rec.value))
            index.append(i)
        ticket = (self.verifier.submit(items) if remote
                  else Ticket(0, items, remote=False, result=failures(items)))
        return Pending(list(records), early, signers, index, ticket)

    def finish(
        self, p: Pending, stored_offsets: dict[tuple[str, int], int]
    ) -> list[Decoded]:
        """The batch's records not yet applied (offset >= the stored one), verified and
        decoded in offset order; a record that fails is kept with its dead-letter cause."""
        failed = {p.index[j] for j in self.verifier.collect(p.ticket)}
        out: list[Decoded] = []
        for i, rec in enumerate(p.records):
            if rec.offset < stored_offsets.get((rec.topic, rec.partition), 0):
                continue  # already applied (re-delivered after a crash or rebalance)
            early = p.early.get(i)
            if early is not None:
                out.append(Decoded(rec, None, *early))
                continue
            signer = p.signers[i]
            if i in failed:
                out.append(Decoded(rec, None, "signature",
                                   str(SignatureError(signer, "bad signature"))))
                continue
            try:
                out.append(Decoded(rec, self._decode(signer, rec.value)))  # type: ignore[arg-type]
            except LedgerError as e:
                out.append(Decoded(rec, None, "signature", str(e)))
            except Exception as e:  # noqa: BLE001 - any undecodable record is a dead letter
                out.append(Decoded(rec, None, "decode", f"{type(e).__name__}: {e}"))
        return out

    def _decode(self, signer: str, value: bytes) -> CourtEvent:
        model = self.decoder.decode(value)
        wanted = expected_signer(model)
        if signer != wanted:
            raise SignatureError(signer, f"signed by {signer}, but the record belongs to {wanted}")
        if not isinstance(model, COURT_EVENT_TYPES):
            raise TypeError(f"{type(model).__name__} is not a court event")
        return model  # type: ignore[return-value]

    # ------------------------------------------------------------------ the fold
    def decode(
        self, records: Sequence[Inbound], stored_offsets: dict[tuple[str, int], int]
    ) -> list[Decoded]:
        """Verify (in this process) and decode the records not yet applied."""
        return self.finish(self.submit(records, remote=False), stored_offsets)

    def close(self) -> None:
        self.verifier.close()

    def fold_batch(
        self,
        decoded: Iterable[Decoded],
        states: dict[str, ListingState],
        flags: dict[str, tuple[bool, bool]],
        links: dict[tuple[str, int], ChainLink],
        known_ids: dict[str, ChainLink],
    ) -> Changes:
        """`states`/`flags` ((concerned, expiry_acked)) of the batch's listings and the chain
        neighbours (`chain_keys`) are read by the store beforehand; updated in place."""
        ch = Changes(existing=set(states))
        new_spans: dict[SpanKey, Span] = {}
        self._memo.clear()
        for d in decoded:
            rec, event = d.rec, d.event
            ch.offsets[(rec.topic, rec.partition)] = rec.offset + 1
            if event is None:
                self._dead(ch, rec, d.kind, d.reason)
                continue
            assert rec.value is not None
            meta = event.meta
            link = ChainLink(meta.court_code, meta.court_seq, meta.event_id,
                             chain_hash(rec.value), meta.prev_hash)
            seen = known_ids.get(meta.event_id)
            if seen is not None:
                if seen.hash == link.hash:
                    ch.skipped += 1  # the same event published twice: idempotent
                else:
                    self._dead(ch, rec, "chain",
                               f"event_id {meta.event_id} already recorded with other content")
                continue
            problem = self._chain_problem(link, links)
            if problem:
                self._dead(ch, rec, "chain", problem)
                continue
            links[(link.court_code, link.court_seq)] = link
            known_ids[link.event_id] = link
            ch.chain.append(link)
            ch.positions[link.court_code] = max(ch.positions.get(link.court_code, 0),
                                                link.court_seq)
            old = states.get(meta.listing_id)
            try:
                new = apply(old, event)
            except TransitionError as e:
                self._dead(ch, rec, "transition", str(e))
                continue
            states[meta.listing_id] = new
            concerned_before, expiry_acked = flags.get(meta.listing_id, (False, False))
            # a due-process record (service, reconsideration, employer notice) changes no
            # measure: it concerns no unit (hub.domain.procedures)
            concerned = not isinstance(event, PROCEDURE_EVENT_TYPES) and (
                self._concerns(new) or (old is not None and self._concerns(old)))
            if old is not None and old.period_end != new.period_end:
                expiry_acked = False
            flags[meta.listing_id] = (concerned_before or concerned, expiry_acked)
            ch.listings[meta.listing_id] = (new, concerned_before or concerned, expiry_acked)
            if isinstance(event, DebtorListed | ListingCorrected):
                ch.persons_replaced[meta.listing_id] = new
            if concerned:
                self._measures(ch, new_spans, event, old, new)
            ch.applied += 1
        return ch

    # A listing's state after one event is its `old` state at the next: within a batch,
    # its routing answers are computed once (keyed by identity; the entry keeps the state
    # alive, so the id is not reused while the batch folds).
    def _memo_of(self, state: ListingState) -> list[Any]:
        hit = self._memo.get(id(state))
        if hit is None or hit[0] is not state:
            hit = self._memo[id(state)] = [state, None, None]
        return hit

    def _concerns(self, state: ListingState) -> bool:
        hit = self._memo_of(state)
        if hit[1] is None:
            hit[1] = concerns(state, self.unit, self.cat)
        return bool(hit[1])

    def _structural(self, state: ListingState | None) -> list[ActiveMeasure]:
        if state is None:
            return []
        hit = self._memo_of(state)
        if hit[2] is None:
            hit[2] = structural(state, self.unit, self.cat)
        return list(hit[2])

    def _chain_problem(self, link: ChainLink, links: dict[tuple[str, int], ChainLink]) -> str | None:
        here = links.get((link.court_code, link.court_seq))
        if here is not None:
            return f"court {link.court_code} seq {link.court_seq} already holds event {here.event_id}"
        if link.court_seq == 1 and link.prev_hash != GENESIS_HASH:
            return f"court {link.court_code} seq 1: prev_hash is not the genesis hash"
        before = links.get((link.court_code, link.court_seq - 1))
        if before is not None and before.hash != link.prev_hash:
            return (f"court {link.court_code} seq {link.court_seq}: prev_hash does not match "
                    f"the hash of seq {link.court_seq - 1}")
        after = links.get((link.court_code, link.court_seq + 1))
        if after is not None and after.prev_hash != link.hash:
            return (f"court {link.court_code} seq {link.court_seq}: hash does not match "
                    f"prev_hash of seq {link.court_seq + 1}")
        return None

    def _dead(self, ch: Changes, rec: Inbound, kind: str, reason: str) -> None:
        ch.dead.append((rec, kind, reason))
        ch.outbox.append(dlq_record(self.s, self.unit, rec, kind, reason))

    def _measures(
        self,
        ch: Changes,
        new_spans: dict[SpanKey, Span],
        event: CourtEvent,
        old: ListingState | None,
        new: ListingState,
    ) -> None:
        meta = event.meta
        at = meta.decided_at
        s_old = self._structural(old)
        s_new = self._structural(new)
        # Projection spans: structural change, valid from the decision (valid time).
        changed = diff(s_old, s_new)
        before = {m.key: m for m in s_old}
        for m, _ in changed:
            if m.key in before:
                self._close(ch, new_spans, m.key, at)
        for m in s_new:
            prev = before.get(m.key)
            if prev is None or prev.suspended != m.suspended or prev.until != m.until:
                span = Span(m, at, meta.event_id)
                new_spans[m.key] = span
                ch.spans_opened.append(span)
        # Acknowledgement: what changed at the decision's time. measures_for(state, at) is
        # the structural set while the listing is current at `at`, else nothing (a listing
        # already past its period was lifted by the sweep, trigger period_expired).
        old_live = old is not None and status_at(old, at) == "listed"
        new_live = status_at(new, at) == "listed"
        changes = changed if (old_live or old is None) and new_live else diff(
            s_old if old_live else [], s_new if new_live else [])
        if changes:
            outcomes = [acks.outcome(m, a) for m, a in changes]
        else:
            bound = bindings(new, self.unit, self.cat) or (
                bindings(old, self.unit, self.cat) if old is not None else [])
            outcomes = [acks.outcome(m, MeasureAction.not_applicable) for m in bound]
        ack = acks.build(self.unit, AckTrigger.court_event, meta.event_id, meta.listing_id,
                         meta.court_code, meta.court_seq, outcomes)
        self.record_ack(ch, ack, at)

    def record_ack(self, ch: Changes, ack: acks.Ack, at: datetime) -> None:
        """The ack goes into the batch's signed UnitAckBatch (consumers/agency/acklog.py)."""
        ch.acks.append(ack)
        ch.history.extend(history_rows(ack, at))

    @staticmethod
    def _close(ch: Changes, new_spans: dict[SpanKey, Span], key: SpanKey, at: datetime) -> None:
        span = new_spans.pop(key, None)
        if span is not None:
            span.valid_to = at
        elif key not in ch.spans_closed:
            ch.spans_closed[key] = at


def history_rows(ack: acks.Ack, at: datetime) -> list[tuple[Any, ...]]:
    return [
        (ack["listing_id"], o["code"], o["role"], o["id_number"], o["action"], at,
         ack["trigger"], ack["event_id"], ack["court_seq"], o["until"], o["reason"], ack["ack_id"])
        for o in ack["measures"]
        if o["action"] != MeasureAction.not_applicable.value
    ]

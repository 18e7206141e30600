"""`hub audit proof --event E --unit U`: an offline proof that unit U acknowledged court
event E, signed by the unit itself (issue #19). The document has the format of a court
event's proof (hub.ledger.build_proof_document): the leaf is the signed UnitAckBatch that
carries the acknowledgement (leaf index = batch_seq - 1), the checkpoint the first signed
UnitCheckpoint of the unit that covers it; `acknowledgement` names the entry. check-proof
also checks that the batch holds that entry (`acknowledgement_entry`)."""

from __future__ import annotations

from typing import Any

from consumers.audit import replay
from consumers.audit.proofs import UnknownEvent
from hub import codec
from hub.config import Settings
from hub.keys import load_trust, unit_signer
from hub.ledger import (
    Check,
    LedgerError,
    build_proof_document,
    inclusion_proof,
    leaf_hash,
    read_signature_headers,
)


def build(s: Settings, event_id: str, unit: str, progress: bool = True) -> dict[str, Any]:
    trust = load_trust(s)
    signer = unit_signer(unit)
    leaves: dict[int, bytes] = {}
    target: tuple[int, bytes, bytes, int] | None = None  # batch_seq, value, sig, entry
    best: tuple[int, bytes, bytes, bytes] | None = None  # size, root, value, sig
    for r in replay.read(s, [s.ack_topic(unit)], progress=progress, label="acks"):
        try:
            found = read_signature_headers(r.headers)
            if found is None or found[0] != signer:
                continue
            trust.verify(signer, r.value, found[1])
            name, rec = codec.decode_dict(r.value)
        except (LedgerError, codec.CodecError):
            continue  # only believed records; verify names the others
        if rec.get("unit") != unit:
            continue
        if name == "credithub.unit.UnitAckBatch":
            seq = rec["batch_seq"]
            leaves.setdefault(seq, leaf_hash(r.value))
            if target is None:
                for i, e in enumerate(rec["entries"]):
                    if e["event_id"] == event_id:
                        target = (seq, r.value, found[1], i)
                        break
        elif name == "credithub.unit.UnitCheckpoint" and target is not None:
            size = rec["tree_size"]
            if size >= target[0] and (best is None or size < best[0]):
                best = (size, bytes(rec["root_hash"]), r.value, found[1])
    if target is None:
        raise UnknownEvent(f"unit {unit} has no signed batch acknowledging event {event_id!r}"
                           " (acknowledgements of older releases have no checkpoint)")
    seq, value, sig, entry = target
    if best is None:
        raise UnknownEvent(f"unit {unit}: batch {seq} acknowledging {event_id} is not covered "
                           "by a signed unit checkpoint yet")
    size, root, cp_value, cp_sig = best
    missing = [i for i in range(1, size + 1) if i not in leaves]
    if missing:
        raise UnknownEvent(f"unit {unit}: batches {missing[:5]} of the checkpoint are missing "
                           "from the log; run hub audit verify")
    try:
        doc = build_proof_document(value, sig, signer, seq - 1, cp_value, cp_sig, signer, size,
                                   root, inclusion_proof(seq - 1, [leaves[i] for i in
                                                                  range(1, size + 1)]))
    except LedgerError as e:
        raise UnknownEvent(f"cannot prove the acknowledgement of {event_id}: {e}") from e
    doc["acknowledgement"] = {"unit": unit, "event_id": event_id, "entry": entry}
    return doc


def entry_check(doc: dict[str, Any], leaf_value: bytes) -> Check:
    """The signed batch holds the acknowledgement the document claims."""
    claim = doc.get("acknowledgement")
    if not isinstance(claim, dict):
        return Check("acknowledgement_entry", "fail", "'acknowledgement' is not an object")
    try:
        name, rec = codec.decode_dict(leaf_value)
    except codec.CodecError as e:
        return Check("acknowledgement_entry", "fail", f"cannot decode the batch: {e}")
    i = claim.get("entry")
    entries = rec.get("entries") if name == "credithub.unit.UnitAckBatch" else None
    if not isinstance(entries, list) or not isinstance(i, int) or not 0 <= i < len(entries):
        return Check("acknowledgement_entry", "fail", "no such entry in a UnitAckBatch")
    if rec["unit"] != claim.get("unit") or entries[i]["event_id"] != claim.get("event_id"):
        return Check("acknowledgement_entry", "fail", "the entry acknowledges another event "
                                                      "or unit")
    return Check("acknowledgement_entry", "pass",
                 f"{rec['unit']} {entries[i]['trigger']} of {claim['event_id']}")

"""`hub audit proof` / `check-proof`: an offline inclusion proof of one court event in the
first signed checkpoint of its court that covers it (RFC 9162 §2.1.3), checkable with only
the court's public key."""

from __future__ import annotations

from typing import Any

from consumers.audit import replay
from consumers.audit.fastmeta import read_meta
from hub import codec
from hub.config import Settings
from hub.errors import InputError
from hub.keys import court_signer, load_trust
from hub.ledger import (
    LedgerError,
    SignatureError,
    build_proof_document,
    inclusion_proof,
    leaf_hash,
    read_signature_headers,
)


class UnknownEvent(InputError):
    exit_code = 1


def checkpoint_fields(value: bytes) -> tuple[int, bytes]:
    """(tree_size, root_hash) of a signed CourtCheckpoint or UnitCheckpoint value."""
    name, rec = codec.decode_dict(value)
    if name not in ("credithub.court.CourtCheckpoint", "credithub.unit.UnitCheckpoint"):
        raise codec.DecodeError(f"{name} is not a checkpoint")
    return int(rec["tree_size"]), bytes(rec["root_hash"])


def build(s: Settings, event_id: str, progress: bool = True) -> dict[str, Any]:
    trust = load_trust(s)
    target = None
    leaves: dict[str, dict[int, bytes]] = {}
    for r in replay.read(s, [s.court_topic], progress=progress, label="court events"):
        try:
            found = read_signature_headers(r.headers)
            meta = read_meta(r.value)
            if found is None:
                continue
            trust.verify(found[0], r.value, found[1])
        except (LedgerError, codec.CodecError):
            continue  # only believed events are leaves; verify names the others
        if found[0] != court_signer(meta.court_code):
            continue
        leaves.setdefault(meta.court_code, {}).setdefault(meta.court_seq, leaf_hash(r.value))
        if meta.event_id == event_id and target is None:
            target = (r.value, found[1], found[0], meta)
    if target is None:
        raise UnknownEvent(f"unknown event id {event_id!r}")
    value, sig, signer, meta = target
    court = leaves[meta.court_code]
    best = None
    for r in replay.read(s, [s.checkpoint_topic], progress=progress, label="checkpoints"):
        try:
            found = read_signature_headers(r.headers)
            if found is None or found[0] != signer:
                continue
            trust.verify(found[0], r.value, found[1])
            size, root = checkpoint_fields(r.value)
        except (SignatureError, LedgerError, codec.CodecError):
            continue
        if size >= meta.court_seq and (best is None or size < best[0]):
            best = (size, root, r.value, found[1])
    if best is None:
        raise UnknownEvent(f"event {event_id} (court {meta.court_code}, court_seq "
                           f"{meta.court_seq}) is not covered by a signed checkpoint yet")
    size, root, cp_value, cp_sig = best
    missing = [i for i in range(1, size + 1) if i not in court]
    if missing:
        raise UnknownEvent(f"court {meta.court_code}: events {missing[:5]} of the checkpoint "
                           "are missing from the log; run hub audit verify")
    hashes = [court[i] for i in range(1, size + 1)]
    index = meta.court_seq - 1  # Merkle leaf index = court_seq - 1
    try:
        return build_proof_document(value, sig, signer, index, cp_value, cp_sig, signer, size,
                                    root, inclusion_proof(index, hashes))
    except LedgerError as e:
        raise UnknownEvent(f"cannot prove event {event_id}: {e}") from e

"""Signed records on the hub's topics: what a value must carry to be believed.

A record is believed when (1) its headers name a signer and carry a signature, (2) the
signer is in the trust store and the signature verifies over the exact value bytes, (3)
the value decodes, and (4) the signer is the one the record's content says it should be
(a court event of court 350402 signed by `court:350402`; an acknowledgement of unit
`finance` by `unit:finance`). Units and auditors share this one check."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from hub import codec
from hub.domain.events import (
    ComplaintAnswered,
    ComplaintReceived,
    CourtCheckpoint,
    CreditRepairDecided,
    DeletionConfirmed,
    DeletionNotice,
    FormalNotice,
    FormalTalk,
    UnitAckBatch,
    UnitAcknowledged,
    UnitCheckpoint,
)
from hub.keys import court_signer, republisher_signer, supervisor_signer, unit_signer
from hub.ledger import (
    SignatureError,
    SigningKey,
    TrustStore,
    read_signature_headers,
    signature_headers,
)

Headers = Sequence[tuple[str, bytes]]


def sign(key: SigningKey, value: bytes) -> list[tuple[str, bytes]]:
    return signature_headers(key, value)


def expected_signer(model: BaseModel) -> str:
    if isinstance(model, UnitAcknowledged | UnitAckBatch | UnitCheckpoint | ComplaintReceived
                  | ComplaintAnswered | CreditRepairDecided):
        return unit_signer(model.unit)
    if isinstance(model, CourtCheckpoint | DeletionNotice):
        return court_signer(model.court_code)
    if isinstance(model, FormalNotice | FormalTalk):
        return supervisor_signer(model.body)
    if isinstance(model, DeletionConfirmed):
        return republisher_signer(model.site)
    meta = getattr(model, "meta", None)
    if meta is None:
        raise SignatureError("?", f"{type(model).__name__} names no signer")
    return court_signer(meta.court_code)


@dataclass(frozen=True)
class Verified:
    signer: str
    signature: bytes
    model: BaseModel


def verify_record(trust: TrustStore, value: bytes | None, headers: Headers | None) -> Verified:
    """Raise SignatureError / CodecError naming the problem; return the decoded model."""
    if value is None:
        raise SignatureError("?", "record has no value")
    found = read_signature_headers(headers)
    if found is None:
        raise SignatureError("?", "record is not signed (no hub-sig / hub-signer headers)")
    signer, signature = found
    trust.verify(signer, value, signature)
    model = codec.decode(value)
    wanted = expected_signer(model)
    if signer != wanted:
        raise SignatureError(signer, f"signed by {signer}, but the record belongs to {wanted}")
    return Verified(signer, signature, model)

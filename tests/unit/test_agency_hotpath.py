"""The unit consumer's hot-path shortcuts give exactly what the plain code gives."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.agency.acks import ACK_NAMESPACE, ack_id_for
from hub.domain.events import AckTrigger

pytestmark = pytest.mark.unit

text = st.text(min_size=1, max_size=40)


@given(text, text, st.sampled_from(list(AckTrigger)), st.none() | text)
def test_ack_id_is_uuid5(unit: str, event_id: str, trigger: AckTrigger, measure: str | None) -> None:
    parts = [unit, event_id, trigger.value] + ([measure] if measure else [])
    assert ack_id_for(unit, event_id, trigger, measure) == str(
        uuid.uuid5(ACK_NAMESPACE, "/".join(parts)))


def test_chain_keys_skip_what_the_projection_cannot_hold() -> None:
    """Neighbours above the court's recorded position are not looked up; every event id is."""
    from types import SimpleNamespace

    from consumers.agency.batch import chain_keys

    def decoded(seq: int, court: str = "350402") -> SimpleNamespace:
        meta = SimpleNamespace(court_code=court, court_seq=seq, event_id=f"e{court}-{seq}")
        return SimpleNamespace(event=SimpleNamespace(meta=meta))

    batch = [decoded(10), decoded(11), decoded(20), decoded(3, "350403"), SimpleNamespace(event=None)]
    everything, ids = chain_keys(batch)  # type: ignore[arg-type]
    assert ids == ["e350402-10", "e350402-11", "e350402-20", "e350403-3"]
    assert ("350402", 21) in everything and ("350403", 2) in everything
    wanted, same_ids = chain_keys(batch, {"350402": 11})  # type: ignore[arg-type]
    assert same_ids == ids
    assert wanted == [("350402", 9), ("350402", 10), ("350402", 11)]  # 350403: none recorded

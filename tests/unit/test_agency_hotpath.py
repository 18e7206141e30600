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

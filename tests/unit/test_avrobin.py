"""The Avro primitives the court's workers splice equal fastavro's encoding of them."""

from __future__ import annotations

import io

import fastavro
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.court.avrobin import avro_long, avro_string


def _fastavro(schema: str, value: object) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), value)
    return out.getvalue()


@settings(max_examples=2000, deadline=None)
@given(st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-5000, 5000),
    st.integers(4000, 2**21),  # around the small table's and the three-byte form's ends
))
def test_avro_long_is_fastavros(n: int) -> None:
    assert avro_long(n) == _fastavro("long", n)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_avro_string_is_fastavros(s: str) -> None:
    assert avro_string(s) == _fastavro("string", s)

"""hub.codec: single-object encoding, fingerprints, resolution across versions, errors."""

from __future__ import annotations

import enum
import io
import json
import shutil
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from hub import codec
from hub.domain import events

pytestmark = pytest.mark.unit

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "avro"
TOP_LEVEL = [
    events.DebtorListed,
    events.ListingShielded,
    events.ListingRevoked,
    events.ListingCorrected,
    events.VerificationOpened,
    events.VerificationClosed,
    events.DecisionServed,
    events.ReconsiderationApplied,
    events.ReconsiderationDecided,
    events.EmployerNotified,
    events.RiskNoticeIssued,
    events.CourtCheckpoint,
    events.UnitAcknowledged,
    events.UnitAckBatch,
    events.UnitCheckpoint,
    events.DeletionNotice,
    events.DeletionConfirmed,
    events.FormalNotice,
    events.FormalTalk,
    events.ComplaintReceived,
    events.ComplaintAnswered,
    events.CreditRepairDecided,
]
CST = timezone(timedelta(hours=8))


# --------------------------------------------------------------------------- CRC-64-AVRO

# Written from the Avro specification ("Schema Fingerprints"), independently of fastavro,
# so that the wire byte order is checked against a second implementation.
_EMPTY64 = 0xC15D213AA4D7A795


def _fp_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY64 & -(fp & 1))
        table.append(fp)
    return table


_FP_TABLE = _fp_table()


def crc64_avro(data: bytes) -> int:
    fp = _EMPTY64
    for byte in data:
        fp = (fp >> 8) ^ _FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


def java_long_to_wire(value: int) -> bytes:
    """What Java's SchemaNormalization.parsingFingerprint("CRC-64-AVRO", s) returns: the
    64-bit value, lowest byte first (`result[i] = (byte) fp; fp >>= 8`)."""
    return (value & 0xFFFF_FFFF_FFFF_FFFF).to_bytes(8, "little")


# (parsing canonical form, fingerprint as a Java signed long) from the Avro project's
# share/test/data/schema-tests.txt, the reference vectors of every Avro implementation.
SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"long"', -3434872931120570953),
    ('"string"', -8142146995180207161),
    ("[]", -1241056759729112623),
    ('["int","boolean"]', 5392556393470105090),
    ('{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ('{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771),
    ('{"name":"foo","type":"enum","symbols":["A1"]}', -6342190197741309591),
    ('{"type":"map","values":"string"}', -8732877298790414990),
    (
        '{"name":"PigValue","type":"record","fields":[{"name":"value","type":'
        '["null","int","long","PigValue"]}]}',
        -1759257747318642341,
    ),
]


@pytest.mark.parametrize(("canonical", "java_long"), SPEC_VECTORS)
def test_crc64_avro_matches_spec_vectors_little_endian(canonical: str, java_long: int) -> None:
    assert crc64_avro(canonical.encode()) == java_long & 0xFFFF_FFFF_FFFF_FFFF
    # fastavro's hex string is already the little-endian wire order, not the big-endian
    # rendering of the number.
    assert codec.crc64_avro_fingerprint(canonical) == java_long_to_wire(java_long)


def test_header_is_marker_and_little_endian_fingerprint_of_canonical_form() -> None:
    value = codec.encode(sample(events.ListingShielded))
    writer = codec.registry().latest("credithub.court.ListingShielded")
    assert value[:2] == b"\xc3\x01"
    assert value[2:10] == java_long_to_wire(crc64_avro(writer.canonical.encode()))
    assert value[2:10] == codec.fingerprint_of("credithub.court.ListingShielded")
    assert codec.record_name(value) == "credithub.court.ListingShielded"


def test_body_is_plain_avro_binary_of_the_writer_schema() -> None:
    event = sample(events.VerificationClosed)
    body = io.BytesIO()
    record = json.loads(json.dumps(event.model_dump(mode="python"), default=_jsonable))
    record["meta"] = event.meta.model_dump(mode="python")
    schemaless_writer(body, codec.schema_of("credithub.court.VerificationClosed"), record)
    assert codec.encode(event)[10:] == body.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


def test_canonical_form_strips_docs_defaults_and_logical_types() -> None:
    canonical = codec.registry().latest("credithub.court.DebtorListed").canonical
    assert '"doc"' not in canonical and "logicalType" not in canonical
    assert canonical.startswith('{"name":"credithub.court.DebtorListed","type":"record"')
    # A shared type used twice is defined once and named afterwards.
    assert canonical.count('"name":"credithub.common.RelatedPerson"') == 1


# --------------------------------------------------------------------------- samples


def _meta(seq: int = 1) -> events.EventMeta:
    return events.EventMeta(
        event_id=events.event_id_for("350402", f"(2026)閩0402執123號之{seq}"),
        listing_id="350402-2026-000123",
        court_code="350402",
        court_seq=seq,
        decision_no=f"(2026)閩0402執123號之{seq}",
        decided_at=datetime(2026, 3, 2, 9, 30, tzinfo=CST),
        triggered_at=datetime(2026, 3, 1, 15, 0, 0, 123456, tzinfo=CST) if seq > 1 else None,
        recorded_at=datetime(2026, 3, 2, 1, 31, 5, 654321, tzinfo=UTC),
        prev_hash=bytes(32) if seq == 1 else bytes(range(32)),
    )


def sample(cls: type[BaseModel]) -> Any:
    related = [
        events.RelatedPerson(
            role=events.Role.legal_representative, name="王某", id_number="35040219800101001X"
        )
    ]
    samples: dict[type[BaseModel], BaseModel] = {
        events.DebtorListed: events.DebtorListed(
            meta=_meta(1),
            court_name="三明市三元區人民法院",
            case_no="(2026)閩0402執123號",
            filed_on=date(2026, 1, 15),
            basis_authority="三明市三元區人民法院",
            basis_doc_no="(2025)閩0402民初456號",
            obligation="償還借款人民幣200000元及利息",
            performance=events.Performance.none,
            ground=events.Ground.evades_enforcement,
            conduct="轉移財產規避執行",
            period_end=date(2028, 3, 2),
            public=True,
            subject=events.Subject(
                kind=events.SubjectKind.organisation,
                name="三明某某貿易有限公司",
                id_number="91350400MA2XXXXXXX",
            ),
            related=related,
        ),
        events.ListingShielded: events.ListingShielded(
            meta=_meta(2), reason=events.ShieldReason.obligation_performed
        ),
        events.ListingRevoked: events.ListingRevoked(
            meta=_meta(3), reason=events.RevokeReason.objection_upheld, note="異議成立"
        ),
        events.ListingCorrected: events.ListingCorrected(
            meta=_meta(4),
            changes=events.ListingChanges(
                subject_name="三明某某商貿有限公司",
                related=related,
                performance=events.Performance.partial,
                period_end=date(2029, 3, 2),
                public=False,
            ),
            reason="名稱錄入錯誤",
        ),
        events.VerificationOpened: events.VerificationOpened(
            meta=_meta(5), objection_received_on=date(2026, 3, 10)
        ),
        events.VerificationClosed: events.VerificationClosed(
            meta=_meta(6), outcome=events.VerificationOutcome.dismissed
        ),
        events.DecisionServed: events.DecisionServed(
            meta=_meta(7), served_decision_no="(2026)閩0402執123號之六", served_on=date(2026, 3, 9)
        ),
        events.ReconsiderationApplied: events.ReconsiderationApplied(
            meta=_meta(8), higher_court="三明市中級人民法院", received_on=date(2026, 3, 12)
        ),
        events.ReconsiderationDecided: events.ReconsiderationDecided(
            meta=_meta(9), outcome=events.ReconsiderationOutcome.overturned
        ),
        events.RiskNoticeIssued: events.RiskNoticeIssued(
            meta=_meta(11), issued_on=date(2026, 2, 20)
        ),
        events.EmployerNotified: events.EmployerNotified(
            meta=_meta(10), employer="三明某某機械廠", notified_on=date(2026, 3, 3)
        ),
        events.CourtCheckpoint: events.CourtCheckpoint(
            court_code="350402",
            tree_size=6,
            root_hash=bytes(range(100, 132)),
            last_event_id=events.event_id_for("350402", "(2026)閩0402執123號之6"),
            issued_at=datetime(2026, 3, 11, tzinfo=UTC),
        ),
        events.UnitAcknowledged: events.UnitAcknowledged(
            ack_id="0b1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31",
            unit="railway",
            trigger=events.AckTrigger.court_event,
            event_id=events.event_id_for("350402", "(2026)閩0402執123號之1"),
            listing_id="350402-2026-000123",
            court_code="350402",
            court_seq=1,
            measures=[
                events.MeasureOutcome(
                    code="B1",
                    role=events.BoundRole.debtor,
                    id_number="91350400MA2XXXXXXX",
                    action=events.MeasureAction.applied,
                ),
                events.MeasureOutcome(
                    code="B1",
                    role=events.BoundRole.legal_representative,
                    id_number="35040219800101001X",
                    action=events.MeasureAction.kept_until,
                    until=date(2026, 6, 30),
                    reason="依法保留",
                ),
            ],
            processed_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        ),
        events.UnitAckBatch: events.UnitAckBatch(
            batch_id="5b1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31",
            unit="railway",
            batch_seq=2,
            prev_hash=bytes(range(32)),
            entries=[events.AckEntry(
                ack_id="0b1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31",
                trigger=events.AckTrigger.court_event,
                event_id=events.event_id_for("350402", "(2026)閩0402執123號之1"),
                listing_id="350402-2026-000123",
                court_code="350402",
                court_seq=1,
                measures=[events.MeasureOutcome(
                    code="B1", role=events.BoundRole.debtor, id_number="91350400MA2XXXXXXX",
                    action=events.MeasureAction.applied)],
                processed_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
            )],
            created_at=datetime(2026, 3, 2, 2, 0, 1, tzinfo=UTC),
        ),
        events.UnitCheckpoint: events.UnitCheckpoint(
            unit="railway",
            tree_size=2,
            root_hash=bytes(range(1, 33)),
            last_batch_id="5b1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31",
            courts=[events.CourtReference(court_code="350402", tree_size=6,
                                          root_hash=bytes(range(100, 132)))],
            issued_at=datetime(2026, 3, 2, 2, 0, 2, tzinfo=UTC),
        ),
        events.DeletionNotice: events.DeletionNotice(
            notice_id=events.deletion_notice_id("credit-news", "6b1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31"),
            site="credit-news", court_code="350402", listing_id="350402-2026-000123",
            event_id="6b1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31", decision_no="(2026)閩0402執123號之二",
            reason=events.DeletionReason.revoked,
            stopped_at=datetime(2026, 5, 10, 2, 0, tzinfo=UTC), due_on="2026-05-13",
            issued_at=datetime(2026, 5, 10, 2, 0, 3, tzinfo=UTC),
        ),
        events.DeletionConfirmed: events.DeletionConfirmed(
            notice_id=events.deletion_notice_id("credit-news", "6b1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31"),
            site="credit-news", listing_id="350402-2026-000123",
            deleted_at=datetime(2026, 5, 11, 1, 0, tzinfo=UTC),
            confirmed_at=datetime(2026, 5, 11, 1, 5, tzinfo=UTC),
        ),
        events.FormalNotice: events.FormalNotice(
            notice_id=events.supervision_id("leading-group", "(2026)通報3號"), body="leading-group",
            ref="(2026)通報3號", unit="finance", reason="未依規定實施聯合懲戒",
            event_ids=["6b1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31"], issued_on=date(2026, 6, 1),
            recorded_at=datetime(2026, 6, 1, 2, 0, tzinfo=UTC),
        ),
        events.FormalTalk: events.FormalTalk(
            talk_id=events.supervision_id("leading-group", "約談-7"), body="leading-group",
            ref="約談-7", unit="finance", reason="懲戒不到位", held_on=date(2026, 6, 2),
            recorded_at=datetime(2026, 6, 2, 2, 0, tzinfo=UTC),
        ),
        events.ComplaintReceived: events.ComplaintReceived(
            complaint_id=events.supervision_id("finance", "TS-1"), unit="finance", ref="TS-1",
            listing_id="350402-2026-000123", about="名單內人員仍獲財政補貼",
            received_on=date(2026, 6, 3), recorded_at=datetime(2026, 6, 3, 2, 0, tzinfo=UTC),
        ),
        events.ComplaintAnswered: events.ComplaintAnswered(
            complaint_id=events.supervision_id("finance", "TS-1"), unit="finance",
            finding=events.ComplaintFinding.should_have_acted, acted_on=date(2026, 6, 5),
            answered_on=date(2026, 6, 6), recorded_at=datetime(2026, 6, 6, 2, 0, tzinfo=UTC),
        ),
        events.CreditRepairDecided: events.CreditRepairDecided(
            repair_id=events.supervision_id("finance", "350402-2026-000123"), unit="finance",
            listing_id="350402-2026-000123", court_code="350402", granted=True,
            applied_on=date(2026, 6, 10), decided_on=date(2026, 6, 12),
            recorded_at=datetime(2026, 6, 12, 2, 0, tzinfo=UTC),
        ),
    }
    return samples[cls]


# --------------------------------------------------------------------------- round trips


def test_every_top_level_schema_has_a_model_and_a_sample() -> None:
    assert {cls.AVRO_NAME for cls in TOP_LEVEL} == set(codec.registry().versions)  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", TOP_LEVEL, ids=lambda c: c.__name__)
def test_round_trip(cls: type[BaseModel]) -> None:
    event = sample(cls)
    value = codec.encode(event)
    decoded = codec.decode(value)
    assert type(decoded) is cls
    assert decoded == event
    name, record = codec.decode_dict(value)
    assert name == cls.AVRO_NAME  # type: ignore[attr-defined]
    assert set(record) == set(cls.model_fields)


def test_times_come_back_as_the_same_utc_instant_with_microseconds() -> None:
    event = sample(events.ListingShielded)
    _, record = codec.decode_dict(codec.encode(event))
    triggered = record["meta"]["triggered_at"]
    assert triggered == datetime(2026, 3, 1, 7, 0, 0, 123456, tzinfo=UTC)
    assert triggered.utcoffset() == timedelta(0)


def test_encoding_is_deterministic() -> None:
    event = sample(events.DebtorListed)
    assert codec.encode(event) == codec.encode(sample(events.DebtorListed))


def test_encode_dict_rejects_a_key_the_schema_lacks() -> None:
    _, record = codec.decode_dict(codec.encode(sample(events.VerificationClosed)))
    record["surprise"] = 1
    with pytest.raises(codec.CodecError):
        codec.encode_dict("credithub.court.VerificationClosed", record)


def test_unknown_record_name() -> None:
    with pytest.raises(codec.UnknownSchemaError):
        codec.fingerprint_of("credithub.court.Nope")


# --------------------------------------------------------------------------- errors


def test_unknown_fingerprint() -> None:
    value = codec.encode(sample(events.VerificationClosed))
    forged = value[:2] + bytes(8) + value[10:]
    with pytest.raises(codec.UnknownSchemaError):
        codec.decode(forged)
    with pytest.raises(codec.UnknownSchemaError):
        codec.record_name(forged)


@pytest.mark.parametrize("value", [b"", b"\x00", b"{}", b"\xc3\x02" + bytes(20)])
def test_no_marker(value: bytes) -> None:
    with pytest.raises(codec.UnknownSchemaError):
        codec.decode(value)


def test_errors_are_hub_errors() -> None:
    from hub.errors import HubError

    assert issubclass(codec.UnknownSchemaError, codec.CodecError)
    assert issubclass(codec.DecodeError, codec.CodecError)
    assert issubclass(codec.CodecError, HubError)


def test_truncated_header() -> None:
    value = codec.encode(sample(events.VerificationClosed))
    with pytest.raises(codec.DecodeError):
        codec.decode(value[:7])


@pytest.mark.parametrize("cls", TOP_LEVEL, ids=lambda c: c.__name__)
def test_every_truncation_of_the_body_is_a_decode_error(cls: type[BaseModel]) -> None:
    value = codec.encode(sample(cls))
    for end in range(10, len(value)):
        with pytest.raises(codec.DecodeError):
            codec.decode_dict(value[:end])


def test_trailing_bytes() -> None:
    value = codec.encode(sample(events.VerificationClosed))
    with pytest.raises(codec.DecodeError, match="trailing"):
        codec.decode(value + b"\x00")


def test_garbage_body() -> None:
    header = codec.encode(sample(events.VerificationClosed))[:10]
    # A string length of -1 (zigzag 0x01) at the start of the first string.
    with pytest.raises(codec.DecodeError):
        codec.decode(header + b"\x01" + bytes(40))
    # An enum index far beyond the symbols.
    meta_only = codec.encode(sample(events.VerificationClosed))[:-1]
    with pytest.raises(codec.DecodeError):
        codec.decode(meta_only + b"\x7e")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_after_a_valid_header_never_escape_as_other_errors(body: bytes) -> None:
    header = codec.encode(sample(events.DebtorListed))[:10]
    try:
        codec.decode(header + body)
    except codec.CodecError:
        pass


# --------------------------------------------------------------------------- resolution


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    """A copy of the repository's schemas; the test points HUB_SCHEMAS_DIR at it once it has
    written its files, since a folder is parsed once per process."""
    target = tmp_path / "avro"
    shutil.copytree(REPO_SCHEMAS, target)
    return target


def _add_version(directory: Path, full_name: str, version: int, edit: Any) -> None:
    schema = json.loads((directory / f"{full_name}.v1.avsc").read_text(encoding="utf-8"))
    edit(schema)
    (directory / f"{full_name}.v{version}.avsc").write_text(
        json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8"
    )


def test_schemas_dir_follows_env(schema_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(codec.SCHEMAS_DIR_ENV, str(schema_copy))
    assert codec.schemas_dir() == schema_copy.resolve()
    assert codec.registry().directory == schema_copy.resolve()


def test_older_writer_resolves_to_latest_reader(
    schema_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written by a producer that only knows v1 (the repository's folder).
    old_value = codec.encode(sample(events.ListingRevoked))
    old_fingerprint = old_value[2:10]

    def add_optional(schema: dict[str, Any]) -> None:
        schema["fields"].append(
            {
                "name": "higher_court",
                "type": ["null", "string"],
                "default": None,
                "doc": "Reconsidering higher court (上一級人民法院), or null.",
            }
        )

    _add_version(schema_copy, "credithub.court.ListingRevoked", 2, add_optional)
    monkeypatch.setenv(codec.SCHEMAS_DIR_ENV, str(schema_copy))
    name, record = codec.decode_dict(old_value)
    assert name == "credithub.court.ListingRevoked"
    assert record["higher_court"] is None
    assert record["note"] == "異議成立"
    assert codec.record_name(old_value) == name

    # The writer is now v2; a v2 value decodes too, and carries another fingerprint.
    new_fingerprint = codec.fingerprint_of(name)
    assert new_fingerprint != old_fingerprint
    new_value = codec.encode_dict(name, {**record, "higher_court": "三明市中級人民法院"})
    assert new_value[2:10] == new_fingerprint
    assert codec.decode_dict(new_value)[1]["higher_court"] == "三明市中級人民法院"
    # encode() of today's model (without the new field) writes v2 with the default.
    assert codec.encode(sample(events.ListingRevoked))[2:10] == new_fingerprint


def test_pinned_shared_type_keeps_old_fingerprints(
    schema_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Role v2 adds a symbol; DebtorListed v2 adopts it by pinning. v1 keeps its fingerprint.
    v1_fingerprint = codec.fingerprint_of("credithub.court.DebtorListed")

    def add_symbol(schema: dict[str, Any]) -> None:
        schema["symbols"].append("liquidator")

    def pin(schema: dict[str, Any]) -> None:
        schema[codec.PIN_ATTRIBUTE] = {"credithub.common.Role": 2}

    _add_version(schema_copy, "credithub.common.Role", 2, add_symbol)
    _add_version(schema_copy, "credithub.court.DebtorListed", 2, pin)
    monkeypatch.setenv(codec.SCHEMAS_DIR_ENV, str(schema_copy))
    loaded = codec.registry()
    v1, v2 = loaded.versions["credithub.court.DebtorListed"]
    assert v1.fingerprint == v1_fingerprint
    assert v2.fingerprint != v1_fingerprint
    assert "liquidator" in v2.canonical and "liquidator" not in v1.canonical
    assert codec.check_compatibility(schema_copy) == []


def test_bad_schema_folder_is_a_codec_error(tmp_path: Path) -> None:
    (tmp_path / "credithub.court.X.v1.avsc").write_text("{not json", encoding="utf-8")
    with pytest.raises(codec.CodecError):
        codec.load_registry(tmp_path)
    (tmp_path / "credithub.court.X.v1.avsc").write_text(
        json.dumps({"type": "record", "name": "Y", "namespace": "credithub.court", "fields": []}),
        encoding="utf-8",
    )
    with pytest.raises(codec.CodecError, match="file name"):
        codec.load_registry(tmp_path)
    with pytest.raises(codec.CodecError):
        codec.load_registry(tmp_path / "missing")


def test_unresolved_reference_is_a_codec_error(tmp_path: Path) -> None:
    schema = {
        "type": "record",
        "name": "X",
        "namespace": "credithub.court",
        "fields": [{"name": "a", "type": "credithub.common.Missing"}],
    }
    (tmp_path / "credithub.court.X.v1.avsc").write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(codec.CodecError, match="Missing"):
        codec.load_registry(tmp_path)


# --------------------------------------------------------------------------- hypothesis

_LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
_AWARE = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=_OFFSETS
)


def strategy_for(annotation: Any) -> st.SearchStrategy[Any]:
    """A strategy for a model field's annotation, built from the model itself so that it
    follows the models as they change."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return strategy_for(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return st.one_of([strategy_for(arg) for arg in typing.get_args(annotation)])
    if origin is list:
        (item,) = typing.get_args(annotation)
        return st.lists(strategy_for(item), max_size=3)
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {
            name: strategy_for(info.annotation) for name, info in annotation.model_fields.items()
        }
        return st.builds(annotation, **fields)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: st.text(max_size=24),
        int: _LONG,
        bool: st.booleans(),
        bytes: st.binary(max_size=40),
        datetime: _AWARE,
        date: st.dates(),
    }
    return simple[annotation]


@pytest.mark.parametrize("cls", TOP_LEVEL, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hypothesis_round_trip(cls: type[BaseModel], data: st.DataObject) -> None:
    event = data.draw(strategy_for(cls))
    assert codec.decode(codec.encode(event)) == event


def test_encode_needs_an_avro_model() -> None:
    class NotAvro(BaseModel):
        x: int = 1

    with pytest.raises(codec.CodecError, match="AVRO_NAME"):
        codec.encode(NotAvro())


def test_wrapped_reference_expands_like_a_bare_one(schema_copy: Path) -> None:
    path = schema_copy / "credithub.court.VerificationClosed.v1.avsc"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["fields"][0]["type"] = {"type": "credithub.court.EventMeta"}
    path.write_text(json.dumps(schema), encoding="utf-8")
    wrapped = codec.load_registry(schema_copy).latest("credithub.court.VerificationClosed")
    assert wrapped.fingerprint == codec.fingerprint_of("credithub.court.VerificationClosed")

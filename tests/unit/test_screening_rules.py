"""The screening service's pure rules: scopes, measure codes (no false clear), identity
normalisation, masking of listings, the moment of valid time, keyed hashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from consumers.agency import apikeys, screening
from consumers.agency.api import _masked
from consumers.agency.api_models import measure_codes
from consumers.agency.api_tls import subject_name
from consumers.agency.unitsecret import keyed_hash
from hub.errors import InputError
from tests.unit.builders import bad_check, org_id, person_id

pytestmark = pytest.mark.unit


def test_scopes_parse_and_imply() -> None:
    assert apikeys.parse_scopes("listings, CHECK") == ["check", "listings"]
    with pytest.raises(InputError, match="unknown scope 'admin'"):
        apikeys.parse_scopes("check,admin")
    with pytest.raises(InputError, match="give one or more"):
        apikeys.parse_scopes(" , ")
    assert apikeys.granted(["listings"]) == {"check", "listings"}
    assert apikeys.granted(["clear-ids"]) == {"check", "listings", "clear-ids"}
    assert apikeys.granted(["metrics"]) == {"metrics"}
    assert not apikeys.Caller("x", apikeys.granted(["check"])).may("listings")


def test_measure_codes_are_case_insensitive_and_never_a_false_clear() -> None:
    assert screening.normalise_measure("g1", "rail-air-operators") == "G1"
    assert screening.normalise_measure(None, "rail-air-operators") is None
    with pytest.raises(InputError, match=r"unknown measure code 'ZZ9'.*A1.*this unit applies G1"):
        screening.normalise_measure("ZZ9", "rail-air-operators")
    with pytest.raises(InputError, match="unknown measure code 'M1'"):
        screening.normalise_measure("M1", "rail-air-operators")
    with pytest.raises(InputError, match="A1 is not applied by unit rail-air-operators"):
        screening.normalise_measure("a1", "rail-air-operators")
    assert measure_codes("rail-air-operators") == ["G1", "g1"]


def test_id_numbers_refused_with_the_reason_of_their_kind() -> None:
    assert screening.normalise_id(" " + person_id(3).lower() + " ") == person_id(3)
    assert screening.normalise_id(org_id(2)) == org_id(2)
    with pytest.raises(InputError, match="resident ID .*check character"):
        screening.normalise_id(bad_check(person_id(3)))
    with pytest.raises(InputError, match="USCC|social credit"):
        screening.normalise_id(bad_check(org_id(2)))
    with pytest.raises(InputError, match="empty"):
        screening.normalise_id("  ")
    with pytest.raises(InputError) as e:
        screening.normalise_id(bad_check(person_id(3)))
    assert person_id(3) not in str(e.value) and bad_check(person_id(3)) not in str(e.value)


def test_a_moment_is_taken_in_utc_whatever_its_offset() -> None:
    far = timezone(timedelta(hours=16))  # ISO 8601 allows it, PostgreSQL does not
    assert screening.instant(datetime(2026, 1, 1, 12, tzinfo=far)) == datetime(2025, 12, 31, 20, tzinfo=UTC)
    assert screening.instant(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))).year == 1
    assert screening.instant(datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))).year == 9999
    with pytest.raises(InputError, match="offset"):
        screening.instant(datetime(2026, 1, 1))


def test_listings_are_masked_unless_clear_ids() -> None:
    doc = {"listing": {"subject": {"id_number": person_id(4), "name": "x"},
                       "related": [{"id_number": org_id(1)}]},
           "measures": [{"id_number": person_id(4), "code": "G1"}]}
    masked = str(_masked(doc, clear=False))
    assert person_id(4) not in masked and org_id(1) not in masked and person_id(4)[:6] in masked
    assert _masked(doc, clear=True) == doc


def test_keyed_hashes_are_labelled_and_keyed() -> None:
    a, b = b"a" * 32, b"b" * 32
    assert keyed_hash(a, "subject", "x") != keyed_hash(a, "api-key", "x")
    assert keyed_hash(a, "subject", "x") != keyed_hash(b, "subject", "x")
    assert keyed_hash(a, "subject", "x") == keyed_hash(a, "subject", "x")


def test_client_certificate_subject_name() -> None:
    cert = {"subject": ((("countryName", "CN"),), (("commonName", "loan-desk.bank"),))}
    assert subject_name(cert) == "loan-desk.bank"
    assert subject_name({"subject": ((("organizationName", "x"),),)}) is None
    assert subject_name(None) is None

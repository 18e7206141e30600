"""Resident ID numbers and unified social credit codes (domain README, "Subjects")."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import ric

from hub.domain.identity import (
    USCC_TYPES,
    IdentityError,
    adult_on,
    age_on,
    birth_date,
    check_resident_id,
    check_uscc,
    checked_resident_id,
    is_minor_on,
    make_resident_id,
    make_uscc,
    mask,
)

pytestmark = pytest.mark.unit

# A published example number (GB 11643 check character X).
KNOWN_ID = "11010519491231002X"


def test_known_id_is_valid_and_normalised() -> None:
    assert check_resident_id(KNOWN_ID.lower()) == KNOWN_ID
    assert check_resident_id(f"  {KNOWN_ID}\n") == KNOWN_ID
    assert birth_date(KNOWN_ID) == date(1949, 12, 31)


def test_region_code_outside_its_validity_window_is_accepted() -> None:
    # 350402 (Sanming, Meilie district) was abolished in 2021; stdnum's validate rejects a
    # 2022 birth there, but real people keep such numbers, so we must not.
    number = make_resident_id("350402", date(2022, 3, 1), 17)
    assert not ric.is_valid(number)
    assert check_resident_id(number) == number


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1101051949123100", "length 16"),
        ("1101051949123100211", "length 19"),
        ("11010519491231002Y", "characters"),
        ("1101051949X231002X", "characters"),
        ("110105194902300021", "birth date 19490230"),
        ("110105194913010021", "birth date 19491301"),
        ("110105194912310021", "check character"),
    ],
)
def test_invalid_ids_name_the_problem(value: str, problem: str) -> None:
    with pytest.raises(IdentityError, match=problem) as info:
        check_resident_id(value)
    assert isinstance(info.value, ValueError)


def test_error_message_masks_the_number() -> None:
    with pytest.raises(IdentityError) as info:
        check_resident_id("110105194912310021")
    assert "110105194912310021" not in str(info.value)
    assert "110105********0021" in str(info.value)


def test_uscc() -> None:
    assert check_uscc("91110000600037341l") == "91110000600037341L"
    with pytest.raises(IdentityError, match="check character"):
        check_uscc("91110000600037341M")
    with pytest.raises(IdentityError, match="length"):
        check_uscc("9111000060003734")
    with pytest.raises(IdentityError, match="alphabet"):
        check_uscc("9111000060003734IL")
    # The registration-authority character is not policed beyond the alphabet.
    code = make_uscc("Y1350400MA2Y00001")
    assert check_uscc(code) == code


@given(
    region=st.from_regex(r"[1-8][0-9]{5}", fullmatch=True),
    born=st.dates(min_value=date(1900, 1, 1), max_value=date.today()),
    seq=st.integers(0, 999),
)
def test_generated_ids_round_trip(region: str, born: date, seq: int) -> None:
    number = make_resident_id(region, born, seq)
    assert check_resident_id(number) == number
    assert birth_date(number) == born
    # Any change of the check character breaks it.
    other = "0" if number[-1] != "0" else "1"
    with pytest.raises(IdentityError):
        check_resident_id(number[:-1] + other)


@given(authority=st.sampled_from(sorted(USCC_TYPES)), data=st.data(),
       division=st.from_regex(r"[0-9]{6}", fullmatch=True),
       org=st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=9, max_size=9))
def test_generated_usccs_round_trip(authority: str, data: st.DataObject, division: str, org: str) -> None:
    code = make_uscc(authority + data.draw(st.sampled_from(USCC_TYPES[authority])) + division + org)
    assert check_uscc(code) == code


# GB 32100-2015: what the structure of a USCC allows (the check character recomputed each
# time, so that only the rule under test fails).
@pytest.mark.parametrize(("body", "rule"), [
    ("0" + "1350402MA0000001", "position 1 (registration authority) '0'"),
    ("Z" + "1350402MA0000001", "not in the GB 32100 alphabet"),  # Z is outside the alphabet
    ("94" + "350402MA0000001", "position 2 (entity type) '4' is not a type of registration authority '9'"),
    ("Y2" + "350402MA0000001", "position 2 (entity type) '2'"),
    ("91" + "35A402MA0000001", "positions 3-8 (administrative division code) must be digits"),
    ("91" + "ABCDEFMA0000001", "positions 3-8"),
])
def test_uscc_structure_is_the_standards(body: str, rule: str) -> None:
    code = body + _uscc_check(body) if "alphabet" not in rule else body + "0"
    with pytest.raises(IdentityError, match=re.escape(rule)):
        check_uscc(code)


def _uscc_check(body: str) -> str:
    from stdnum.cn import uscc

    return str(uscc.calc_check_digit(body))


def test_usccs_of_every_authority_in_the_table_pass() -> None:
    for authority, types in USCC_TYPES.items():
        for kind in types:
            code = make_uscc(f"{authority}{kind}350402MA0000001")
            assert check_uscc(code) == code


@pytest.mark.parametrize(("born", "rule"), [
    (date(2099, 1, 1), "birth date 2099-01-01 is in the future"),
    (date(1899, 12, 31), "birth date 1899-12-31 is before 1900"),
])
def test_impossible_birth_dates_are_refused(born: date, rule: str) -> None:
    with pytest.raises(IdentityError, match=rule):
        check_resident_id(f"350402{born:%Y%m%d}001" + "0")  # the date is checked first


def test_a_real_number_of_a_renamed_region_passes() -> None:
    # 350403 (三明市三元區 since 2021, formerly 三元區/梅列區 codes): a number born in 1975 is
    # real, whatever stdnum's birth-year region window says.
    number = make_resident_id("350403", date(1975, 5, 1), 12)
    assert check_resident_id(number) == number
    assert birth_date(number) == date(1975, 5, 1)


def test_a_non_calendar_birth_date_is_refused() -> None:
    with pytest.raises(IdentityError, match="20260230 is not a calendar date"):
        check_resident_id("350402202602300010")


def test_age_and_minority_around_the_18th_birthday() -> None:
    number = make_resident_id("350402", date(2008, 6, 15), 1)
    assert age_on(number, date(2026, 6, 14)) == 17
    assert is_minor_on(number, date(2026, 6, 14))
    assert age_on(number, date(2026, 6, 15)) == 18
    assert not is_minor_on(number, date(2026, 6, 15))


def test_leap_day_birth_comes_of_age_on_1_march_in_common_years() -> None:
    number = make_resident_id("350402", date(2008, 2, 29), 2)
    assert is_minor_on(number, date(2026, 2, 28))
    assert not is_minor_on(number, date(2026, 3, 1))
    assert age_on(number, date(2028, 2, 29)) == 20  # leap year: the day itself


def test_age_before_birth_is_an_error() -> None:
    number = make_resident_id("350402", date(2008, 2, 29), 2)
    with pytest.raises(IdentityError, match="not yet born"):
        age_on(number, date(2008, 2, 29) - timedelta(days=1))


@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)),
    on=st.dates(min_value=date(1900, 1, 1), max_value=date(2050, 12, 31)),
    spoil=st.sampled_from(["", "check", "date", "case"]),
)
def test_the_uncached_check_and_adult_on_agree_with_the_cached_ones(born: date, on: date,
                                                                    spoil: str) -> None:
    """`checked_resident_id` / `adult_on` (the court's fast path) against
    `check_resident_id` / `is_minor_on`: the same numbers, errors and answers."""
    number = make_resident_id("350402", born, 7)
    if spoil == "check":
        number = number[:-1] + ("0" if number[-1] != "0" else "1")
    elif spoil == "date":
        number = number[:10] + "13" + number[12:]
    elif spoil == "case":
        number = " " + number.lower() + " "
    try:
        expected = check_resident_id(number)
    except IdentityError as e:
        with pytest.raises(IdentityError, match=re.escape(e.problem)):
            checked_resident_id(number)
        return
    got, got_born = checked_resident_id(number)
    assert (got, got_born) == (expected, birth_date(number))
    try:
        minor = is_minor_on(number, on)
    except IdentityError:
        minor = True  # not yet born: not listable either
    assert adult_on(got_born, on) == (not minor)


def test_mask() -> None:
    assert mask(KNOWN_ID) == "110105********002X"
    assert mask("91110000600037341L") == "911100********341L"
    assert mask("short") == "*****"


def test_generators_refuse_bad_input() -> None:
    with pytest.raises(ValueError):
        make_resident_id("35040", date(2000, 1, 1), 1)
    with pytest.raises(ValueError):
        make_resident_id("350402", date(2000, 1, 1), 1000)
    with pytest.raises(ValueError):
        make_uscc("9111000060003734I")

"""Identity numbers of listed subjects: resident ID numbers and unified social credit codes.

Domain README, "Subjects": a natural person carries an 18-character resident ID number
(公民身份號碼, GB 11643-1999: 6-digit region, 8-digit birth date, 3-digit sequence, one
ISO 7064 MOD 11-2 check character); an organisation carries an 18-character unified social
credit code (統一社會信用代碼, GB 32100-2015, MOD 31 check character). Minors are never
listed, hence the age helpers.

Pure: stdlib and python-stdnum only. Error messages never carry a number in clear (they use
`mask`), because they end up in logs.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from stdnum.cn import ric as _ric
from stdnum.cn import uscc as _uscc

__all__ = [
    "ADULT_AGE",
    "USCC_TYPES",
    "IdentityError",
    "adult_on",
    "age_on",
    "birth_date",
    "check_resident_id",
    "checked_resident_id",
    "check_uscc",
    "is_minor_on",
    "make_resident_id",
    "make_uscc",
    "mask",
]

# Civil Code art. 17: a person of 18 or over is an adult; the list never holds minors.
ADULT_AGE = 18

_RESIDENT_ID_LENGTH = 18
_USCC_LENGTH = 18
_RESIDENT_ID_FORMAT = re.compile(r"[0-9]{17}[0-9X]")
# GB 32100-2015 alphabet: digits and upper-case letters without I, O, Z, S, V.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# A real birth date (GB 11643 digits 7-14): a calendar date, not before 1900 (no living
# person, and none the list could bind), not after today.
_MIN_BIRTH = date(1900, 1, 1)
# GB 32100-2015 table 1 (and the codes added to it since): position 1, the registration
# authority; position 2, the type of entity that authority registers.
USCC_TYPES: dict[str, str] = {
    "1": "1239",  # 機構編制: organs of state, public institutions, mass organisations, other
    "2": "19",  # 外交: resident foreign news agencies, other
    "3": "123459",  # 司法行政: law firms, notaries, legal services, forensics, arbitration, other
    "4": "19",  # 文化: foreign cultural centres, other
    "5": "1239",  # 民政: social organisations, private non-enterprise units, foundations, other
    "6": "129",  # 旅游: representative offices of foreign (and HK/Macao/Taiwan) tourism bodies, other
    "7": "129",  # 宗教: places of religious activity, religious schools, other
    "8": "19",  # 工會: grassroots trade unions, other
    "9": "123",  # 工商: enterprises, individual businesses, farmers' cooperatives
    "A": "19",  # 中央軍委改革和編制辦公室: military public institutions, other
    "N": "1239",  # 農業: group, village and township collective economic organisations, other
    "Y": "1",  # 其他: other authorities (one type)
}


class IdentityError(ValueError):
    """An identity number is malformed; the message says what is wrong (number masked)."""

    def __init__(self, kind: str, value: str, problem: str) -> None:
        self.kind = kind
        self.problem = problem
        super().__init__(f"invalid {kind} {mask(value)!r}: {problem}")


def _normalise(value: str) -> str:
    return value.strip().upper()


@lru_cache(maxsize=1 << 16)
def check_resident_id(value: str) -> str:
    """Return the normalised resident ID number (upper-case X) or raise IdentityError.

    Deliberately NOT `stdnum.cn.ric.validate`: it also rejects numbers whose region code was
    not valid in the birth year, yet people keep numbers issued under old or renamed region
    codes for life. We check format, birth date and check character only.
    """
    return checked_resident_id(value)[0]


def checked_resident_id(value: str) -> tuple[str, date]:
    """`check_resident_id`, uncached, with the birth date the number spells (for a file of
    numbers each seen once: a cache only costs there)."""
    if not isinstance(value, str):
        raise IdentityError("resident ID", "", f"expected a string, got {type(value).__name__}")
    number = _normalise(value)
    kind = "resident ID"
    if len(number) != _RESIDENT_ID_LENGTH:
        raise IdentityError(kind, number, f"length {len(number)}, expected {_RESIDENT_ID_LENGTH}")
    if not _RESIDENT_ID_FORMAT.fullmatch(number):
        raise IdentityError(kind, number, "characters: expected 17 digits then a digit or X")
    born = _birth_date_of(number)
    expected = _ric.calc_check_digit(number)  # takes the full number, ignores the last char
    if number[-1] != expected:
        raise IdentityError(kind, number, "check character does not match (GB 11643 MOD 11-2)")
    return number, born


def _birth_date_of(number: str) -> date:
    # The same date stdnum.cn.ric.get_birth_date reads (digits 7-14), without its generic
    # character cleaning, which dominated the cost of importing a large decision file.
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as e:
        raise IdentityError(
            "resident ID", number, f"birth date {number[6:14]} is not a calendar date"
        ) from e
    if born < _MIN_BIRTH:
        raise IdentityError("resident ID", number, f"birth date {born.isoformat()} is before 1900")
    if born > date.today():
        raise IdentityError("resident ID", number, f"birth date {born.isoformat()} is in the future")
    return born


@lru_cache(maxsize=1 << 16)
def check_uscc(value: str) -> str:
    """Return the normalised unified social credit code or raise IdentityError.

    GB 32100-2015: length 18 in its alphabet; position 1 a registration authority and
    position 2 an entity type of that authority (`USCC_TYPES`); positions 3-8 the
    administrative division code, digits only; the check character
    (`stdnum.cn.uscc.calc_check_digit`). (stdnum's own `validate` would refuse the
    authorities with letter codes, A, N and Y.)
    """
    if not isinstance(value, str):
        raise IdentityError("USCC", "", f"expected a string, got {type(value).__name__}")
    number = _normalise(value)
    kind = "USCC"
    if len(number) != _USCC_LENGTH:
        raise IdentityError(kind, number, f"length {len(number)}, expected {_USCC_LENGTH}")
    bad = sorted({c for c in number if c not in _USCC_ALPHABET})
    if bad:
        raise IdentityError(
            kind, number, f"characters {''.join(bad)!r} not in the GB 32100 alphabet"
        )
    types = USCC_TYPES.get(number[0])
    if types is None:
        raise IdentityError(kind, number, f"position 1 (registration authority) {number[0]!r} is "
                            f"not in GB 32100's table ({', '.join(USCC_TYPES)})")
    if number[1] not in types:
        raise IdentityError(kind, number, f"position 2 (entity type) {number[1]!r} is not a type "
                            f"of registration authority {number[0]!r} ({', '.join(types)})")
    if not number[2:8].isdigit():
        raise IdentityError(kind, number, "positions 3-8 (administrative division code) must "
                            "be digits (GB 32100)")
    if number[-1] != _uscc.calc_check_digit(number[:-1]):
        raise IdentityError(kind, number, "check character does not match (GB 32100 MOD 31)")
    return number


def birth_date(resident_id: str) -> date:
    """Birth date encoded in a (validated) resident ID number."""
    return _birth_date_of(check_resident_id(resident_id))


def _age(born: date, on: date) -> int:
    # Whole years (周歲). A 29 February birthday falls, in a common year, once 28 February
    # has passed, i.e. on 1 March: (2, 28) < (2, 29) keeps the person a year younger on
    # 28 February. This errs towards treating a person as a minor for one more day.
    years = on.year - born.year
    if (on.month, on.day) < (born.month, born.day):
        years -= 1
    return years


def adult_on(born: date, on: date) -> bool:
    """Whether a person born on `born` is born and of age on `on`: `is_minor_on` neither
    raises nor holds (Civil Code art. 17)."""
    return on >= born and _age(born, on) >= ADULT_AGE


def age_on(resident_id: str, on: date) -> int:
    """Age in whole years on `on`; raises IdentityError if `on` precedes the birth date."""
    born = birth_date(resident_id)
    if on < born:
        raise IdentityError("resident ID", resident_id, f"not yet born on {on.isoformat()}")
    return _age(born, on)


def is_minor_on(resident_id: str, on: date) -> bool:
    """True if the person is under 18 on `on` (minors are never listed: domain README)."""
    return age_on(resident_id, on) < ADULT_AGE


def mask(value: str) -> str:
    """Mask an identity number for logs: first 6 and last 4 characters kept, rest '*'.

    Strings of 10 characters or fewer are masked entirely (nothing meaningful would hide).
    """
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def make_resident_id(region: str, birth: date, seq: int) -> str:
    """A valid resident ID number (tests, demo): region (6 digits), birth date, sequence
    0-999 (odd for men, even for women in GB 11643), plus the computed check character."""
    if not re.fullmatch(r"[0-9]{6}", region):
        raise ValueError(f"region must be 6 digits, got {region!r}")
    if not 0 <= seq <= 999:
        raise ValueError(f"seq must be in 0..999, got {seq}")
    if birth < _MIN_BIRTH:
        raise ValueError(f"birth date {birth} is before 1900")
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    # calc_check_digit expects the full number and ignores its last character.
    return body + _ric.calc_check_digit(body + "0")


def make_uscc(body17: str) -> str:
    """A valid unified social credit code (tests, demo): 17 characters of the GB 32100
    alphabet plus the computed check character."""
    body = body17.strip().upper()
    if len(body) != _USCC_LENGTH - 1 or any(c not in _USCC_ALPHABET for c in body):
        raise ValueError(f"body must be 17 characters of {_USCC_ALPHABET!r}, got {body17!r}")
    return body + _uscc.calc_check_digit(body)

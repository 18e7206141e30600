"""The catalogue: the forty joint-punishment measures (A1 … L1) and the 48 punishment units.

Source: policy part 二 (聯合懲戒體系), transcribed in the shared domain reference
`measures.md` (codes: letter = group 一…十二 → A…L, digit = item) and `units.md` (unit
slugs and the measures each enforces). The catalogue is data, not code (units.md, Notes):
`data/measures.json` and `data/units.json` ship as package data and are validated at load,
so a city can add a unit or move a measure without a release.

The unit × measure matrix is the routing table of the hub (measures.md, Notes): an event
about a listing concerns a unit exactly when the unit enforces at least one measure that
binds that subject (debtor kind and role) — see `binds_role`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "BIND_TOKENS",
    "DEBTOR_KINDS",
    "MODES",
    "OFFICER_ROLES",
    "RELATED_ROLES",
    "ROLES",
    "BindToken",
    "Catalogue",
    "CatalogueError",
    "DebtorKind",
    "Measure",
    "Mode",
    "Unit",
    "binds_role",
    "default_catalogue",
    "load_catalogue",
]

# measures.md, column "mode": what a unit's system does when a matching subject shows up.
Mode = Literal["block", "review", "monitor", "assist"]
MODES: tuple[str, ...] = ("block", "review", "monitor", "assist")

# measures.md, column "applies to":
#   debtor   = the listed debtor itself, whatever its kind;
#   person   = the debtor, only when it is a natural person ("person-only");
#   related  = an organisation debtor's legal representative, principal person in charge,
#              actual controller, persons directly responsible for the non-performance;
#   officers = an organisation debtor's directors, supervisors, senior managers.
BindToken = Literal["debtor", "person", "related", "officers"]
BIND_TOKENS: tuple[str, ...] = ("debtor", "person", "related", "officers")

DebtorKind = Literal["person", "organisation"]
DEBTOR_KINDS: tuple[str, ...] = ("person", "organisation")

# Domain README, "Subjects": related persons of an organisation debtor, by role.
RELATED_ROLES: frozenset[str] = frozenset(
    {"legal_representative", "principal", "actual_controller", "directly_responsible"}
)
OFFICER_ROLES: frozenset[str] = frozenset({"director", "supervisor", "senior_manager"})
ROLES: frozenset[str] = frozenset({"debtor"}) | RELATED_ROLES | OFFICER_ROLES

# L1 (鼓勵其他方面限制) binds no unit by default: a unit adopts it by configuration
# (units.md, Notes). Every other measure must be enforced by at least one unit.
UNASSIGNED_ALLOWED: frozenset[str] = frozenset({"L1"})

_CODE = re.compile(r"[A-L][1-9][0-9]?")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class CatalogueError(KeyError):
    """Unknown measure code / unit slug, or an inconsistent catalogue file.

    A KeyError so lookups behave like a mapping's; `str()` gives the plain message rather
    than KeyError's quoted repr.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Measure(BaseModel):
    """One joint-punishment measure (measures.md row)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name_zh: str
    name_en: str
    group: str  # A…L = policy part 二 (一)…(十二)
    group_name_zh: str
    group_name_en: str
    mode: Mode  # the first mode listed in measures.md's mode column
    modes: list[Mode]  # all known modes listed, in order
    mode_note: str | None = None  # qualified or extra parts of the mode column, verbatim
    binds: list[BindToken]
    binds_note: str | None = None  # parenthesised qualifier of "applies to", verbatim
    units: list[str] = Field(default_factory=list)  # slugs, units.md order (derived)


class Unit(BaseModel):
    """One punishment unit (units.md row): its slug names its account, consumer group,
    topics and schema."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slug: str
    name_zh: str
    name_en: str
    measures: list[str]  # codes, units.md order


class Catalogue(BaseModel):
    """Measures (ordered A1…L1) and units (units.md order), cross-checked."""

    model_config = ConfigDict(frozen=True)

    measures: dict[str, Measure]
    units: dict[str, Unit]

    def measure(self, code: str) -> Measure:
        try:
            return self.measures[code]
        except KeyError:
            raise CatalogueError(f"unknown measure code {code!r} (expected A1 … L1)") from None

    def unit(self, slug: str) -> Unit:
        try:
            return self.units[slug]
        except KeyError:
            raise CatalogueError(f"unknown unit slug {slug!r}") from None

    def units_enforcing(self, code: str) -> list[Unit]:
        """Units that enforce measure `code`, in units.md order (empty for L1)."""
        return [self.units[slug] for slug in self.measure(code).units]


def binds_role(measure: Measure, debtor_kind: str, role: str) -> bool:
    """Does `measure` bind the person in `role` for a listing whose debtor is `debtor_kind`?

    measures.md, "applies to": the debtor is bound if the measure binds the debtor
    whatever its kind, or is person-only and the debtor is a natural person. Related
    persons and officers exist only for an organisation debtor (policy 二, e.g. (七)1:
    失信被執行人的法定代表人、主要負責人、實際控制人、影響債務履行的直接責任人員).
    """
    if debtor_kind not in DEBTOR_KINDS:
        raise ValueError(f"debtor_kind must be one of {DEBTOR_KINDS}, got {debtor_kind!r}")
    if role == "debtor":
        return "debtor" in measure.binds or ("person" in measure.binds and debtor_kind == "person")
    if role in RELATED_ROLES:
        return debtor_kind == "organisation" and "related" in measure.binds
    if role in OFFICER_ROLES:
        return debtor_kind == "organisation" and "officers" in measure.binds
    raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")


def _read(path: Path | None, name: str) -> Any:
    try:
        if path is None:
            text = resources.files("hub.domain").joinpath("data", name).read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return json.loads(text)
    except (OSError, json.JSONDecodeError) as e:
        raise CatalogueError(f"cannot read catalogue file {path or name}: {e}") from e


def _records(raw: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise CatalogueError(f"{name}: expected a JSON list of objects")
    return raw


def _check_measure(m: Measure) -> None:
    if not _CODE.fullmatch(m.code):
        raise CatalogueError(f"measure {m.code!r}: code must look like A1 … L1")
    if m.group != m.code[0]:
        raise CatalogueError(f"measure {m.code}: group {m.group!r} differs from code letter")
    if not m.modes or m.mode != m.modes[0]:
        raise CatalogueError(f"measure {m.code}: mode must be the first of modes {m.modes}")
    if not m.binds:
        raise CatalogueError(f"measure {m.code}: binds nobody")


def load_catalogue(
    measures_path: Path | str | None = None, units_path: Path | str | None = None
) -> Catalogue:
    """Load and validate the catalogue (package data unless paths are given).

    Raises CatalogueError naming the problem: duplicate codes or slugs, a unit citing an
    unknown measure, a measure (other than L1) that no unit enforces, a malformed record.
    """
    m_path = Path(measures_path) if measures_path is not None else None
    u_path = Path(units_path) if units_path is not None else None
    raw_measures = _records(_read(m_path, "measures.json"), "measures")
    raw_units = _records(_read(u_path, "units.json"), "units")

    units: dict[str, Unit] = {}
    for record in raw_units:
        try:
            unit = Unit.model_validate(record)
        except ValidationError as e:
            raise CatalogueError(f"unit {record.get('slug')!r}: {e}") from e
        if not _SLUG.fullmatch(unit.slug):
            raise CatalogueError(f"unit {unit.slug!r}: slug must be lower-case words and '-'")
        if unit.slug in units:
            raise CatalogueError(f"duplicate unit slug {unit.slug!r}")
        if len(set(unit.measures)) != len(unit.measures):
            raise CatalogueError(f"unit {unit.slug!r} lists a measure twice: {unit.measures}")
        units[unit.slug] = unit

    parsed: list[Measure] = []
    seen: set[str] = set()
    for record in raw_measures:
        if "units" in record:
            # One source of truth for the matrix: units.json (units.md, "measures" column).
            raise CatalogueError(
                f"measure {record.get('code')!r}: 'units' is derived from units.json, "
                "do not set it in measures.json"
            )
        try:
            measure = Measure.model_validate(record)
        except ValidationError as e:
            raise CatalogueError(f"measure {record.get('code')!r}: {e}") from e
        _check_measure(measure)
        if measure.code in seen:
            raise CatalogueError(f"duplicate measure code {measure.code!r}")
        seen.add(measure.code)
        parsed.append(measure)

    for unit in units.values():
        unknown = [code for code in unit.measures if code not in seen]
        if unknown:
            raise CatalogueError(f"unit {unit.slug!r} enforces unknown measures {unknown}")

    measures: dict[str, Measure] = {}
    for measure in sorted(parsed, key=lambda m: (m.code[0], int(m.code[1:]))):
        enforcing = [u.slug for u in units.values() if measure.code in u.measures]
        if not enforcing and measure.code not in UNASSIGNED_ALLOWED:
            raise CatalogueError(f"measure {measure.code} is enforced by no unit")
        measures[measure.code] = measure.model_copy(update={"units": enforcing})

    return Catalogue(measures=measures, units=units)


@cache
def default_catalogue() -> Catalogue:
    """The packaged catalogue, loaded and validated once per process."""
    return load_catalogue()

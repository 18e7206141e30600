"""The packaged catalogue of measures and units (measures.md, units.md; policy part 二)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.catalogue_cli import catalogue as catalogue_group
from hub.domain.catalogue import (
    CatalogueError,
    Measure,
    binds_role,
    default_catalogue,
    load_catalogue,
)

pytestmark = pytest.mark.unit

EXPECTED_CODES = (
    "A1 A2 A3 A4 A5 A6 A7 A8 B1 B2 C1 C2 C3 C4 C5 C6 C7 C8 D1 D2 D3 E1 E2 E3 "
    "F1 F2 F3 F4 G1 G2 G3 G4 G5 H1 I1 I2 I3 J1 K1 L1"
).split()

# units.md, in order.
EXPECTED_SLUGS = [
    "organization-dept", "establishment-office", "taiwan-affairs", "civilization-office",
    "comprehensive-governance", "development-reform", "finance", "industry-commerce",
    "financial-affairs", "pboc-sanming", "banking-regulator", "forex-admin", "sasac",
    "civil-affairs", "social-org-supervisors", "economy-it", "housing-construction",
    "transport", "water-resources", "commerce", "admin-service-center", "public-security",
    "human-resources", "science-tech", "local-tax", "state-tax", "customs",
    "party-congress-cppcc", "military-subdistrict", "quality-supervision", "work-safety",
    "food-drug", "fire-brigade", "tobacco", "land-resources", "womens-federation", "justice",
    "commercial-banks", "forestry", "agriculture", "tourism", "culture-press", "education",
    "maritime", "insurers", "housing-fund", "procuratorate", "rail-air-operators",
]  # fmt: skip

DATA = Path(__file__).resolve().parents[2] / "hub" / "domain" / "data"


def test_forty_measures_in_order() -> None:
    cat = default_catalogue()
    assert list(cat.measures) == EXPECTED_CODES
    assert len(cat.measures) == 40
    assert {m.group for m in cat.measures.values()} == set("ABCDEFGHIJKL")


def test_forty_eight_units_in_units_md_order() -> None:
    cat = default_catalogue()
    assert list(cat.units) == EXPECTED_SLUGS
    assert len(set(EXPECTED_SLUGS)) == 48


@pytest.mark.parametrize(
    ("slug", "measures"),
    [
        ("finance", ["A1", "A4", "A6", "A7", "B1", "B2", "C1", "C3", "F1"]),
        ("public-security", ["A8", "G2", "G5", "H1", "K1"]),
        ("land-resources", ["D3", "F1", "F2", "F4", "G5", "J1"]),
        ("rail-air-operators", ["G1"]),
        ("housing-fund", ["I3"]),
        ("organization-dept", ["C1", "C5", "C6"]),
    ],
)
def test_unit_measures(slug: str, measures: list[str]) -> None:
    assert default_catalogue().unit(slug).measures == measures


def test_names_transcribed() -> None:
    cat = default_catalogue()
    g1 = cat.measure("G1")
    assert g1.name_zh == "乘坐火車、飛機限制"
    assert g1.group_name_zh == "限制高消費及有關消費"
    assert cat.unit("pboc-sanming").name_zh == "人行三明中心支行"
    assert cat.unit("human-resources").name_zh == "市人社局(公務員局)"


@pytest.mark.parametrize(
    ("code", "mode", "modes", "binds"),
    [
        ("A1", "review", ["review", "block"], ["debtor"]),
        ("C1", "block", ["block"], ["person", "related"]),
        ("C5", "block", ["block", "review"], ["person"]),
        ("D1", "block", ["block", "monitor"], ["debtor"]),
        ("D2", "block", ["block"], ["debtor", "officers"]),
        ("D3", "block", ["block"], ["debtor"]),
        ("E1", "block", ["block"], ["debtor"]),
        ("E3", "review", ["review"], ["debtor", "related", "officers"]),
        ("G1", "block", ["block"], ["debtor", "related"]),
        ("H1", "assist", ["assist", "block"], ["debtor"]),
        ("J1", "monitor", ["monitor"], ["debtor", "related", "officers"]),
    ],
)
def test_modes_and_binds(code: str, mode: str, modes: list[str], binds: list[str]) -> None:
    m = default_catalogue().measure(code)
    assert (m.mode, m.modes, m.binds) == (mode, modes, binds)


def test_mode_notes_keep_qualifiers() -> None:
    cat = default_catalogue()
    assert cat.measure("A1").mode_note == "block (guarantee co.)"
    assert cat.measure("D3").mode_note == "disclose"
    assert cat.measure("E1").binds_note == "person-only for individual awards"
    assert cat.measure("A4").mode_note is None


def test_units_enforcing_and_l1() -> None:
    cat = default_catalogue()
    assert [u.slug for u in cat.units_enforcing("A8")] == [
        "taiwan-affairs",
        "commerce",
        "public-security",
    ]
    assert cat.units_enforcing("L1") == []
    for code, m in cat.measures.items():
        if code != "L1":
            assert m.units, code


def test_unknown_lookups_raise_catalogue_error() -> None:
    cat = default_catalogue()
    with pytest.raises(CatalogueError, match="unknown measure code 'Z9'"):
        cat.measure("Z9")
    with pytest.raises(KeyError):
        cat.unit("no-such-unit")
    assert str(CatalogueError("plain")) == "plain"


def _measure(**overrides: object) -> Measure:
    base = default_catalogue().measure("A1").model_dump()
    base.update(overrides)
    return Measure.model_validate(base)


@pytest.mark.parametrize(
    ("binds", "kind", "role", "expected"),
    [
        (["debtor"], "person", "debtor", True),
        (["debtor"], "organisation", "debtor", True),
        (["debtor"], "organisation", "legal_representative", False),
        (["person"], "person", "debtor", True),
        (["person"], "organisation", "debtor", False),
        (["person", "related"], "organisation", "debtor", False),
        (["person", "related"], "organisation", "actual_controller", True),
        (["person", "related"], "organisation", "director", False),
        (["debtor", "related"], "person", "principal", False),
        (["debtor", "officers"], "organisation", "senior_manager", True),
        (["debtor", "officers"], "organisation", "directly_responsible", False),
    ],
)
def test_binds_role(binds: list[str], kind: str, role: str, expected: bool) -> None:
    assert binds_role(_measure(binds=binds), kind, role) is expected


def test_binds_role_rejects_unknown_kind_and_role() -> None:
    m = default_catalogue().measure("A1")
    with pytest.raises(ValueError):
        binds_role(m, "company", "debtor")
    with pytest.raises(ValueError):
        binds_role(m, "person", "cousin")


def _write(tmp_path: Path, measures: object, units: object) -> tuple[Path, Path]:
    mp, up = tmp_path / "m.json", tmp_path / "u.json"
    mp.write_text(json.dumps(measures, ensure_ascii=False), "utf-8")
    up.write_text(json.dumps(units, ensure_ascii=False), "utf-8")
    return mp, up


def _data() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    return (
        json.loads((DATA / "measures.json").read_text("utf-8")),
        json.loads((DATA / "units.json").read_text("utf-8")),
    )


def test_load_from_paths(tmp_path: Path) -> None:
    measures, units = _data()
    cat = load_catalogue(*_write(tmp_path, measures, units))
    assert list(cat.measures) == EXPECTED_CODES


def test_unit_with_unknown_measure_is_rejected(tmp_path: Path) -> None:
    measures, units = _data()
    units[0]["measures"] = ["C1", "Z9"]
    with pytest.raises(CatalogueError, match="organization-dept.*Z9"):
        load_catalogue(*_write(tmp_path, measures, units))


def test_measure_without_unit_is_rejected(tmp_path: Path) -> None:
    measures, units = _data()
    units = [u for u in units if u["slug"] != "housing-fund"]
    with pytest.raises(CatalogueError, match="I3 is enforced by no unit"):
        load_catalogue(*_write(tmp_path, measures, units))


def test_duplicates_are_rejected(tmp_path: Path) -> None:
    measures, units = _data()
    with pytest.raises(CatalogueError, match="duplicate measure code 'A1'"):
        load_catalogue(*_write(tmp_path, [*measures, measures[0]], units))
    with pytest.raises(CatalogueError, match="duplicate unit slug 'finance'"):
        load_catalogue(*_write(tmp_path, measures, [*units, units[6]]))


def test_malformed_record_is_rejected(tmp_path: Path) -> None:
    measures, units = _data()
    measures[0]["mode"] = "punish"
    with pytest.raises(CatalogueError, match="A1"):
        load_catalogue(*_write(tmp_path, measures, units))


def test_cli_measures_json() -> None:
    result = CliRunner().invoke(catalogue_group, ["measures", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [m["code"] for m in doc] == EXPECTED_CODES
    for m in doc:
        assert {"code", "name_zh", "name_en", "group", "mode", "binds"} <= set(m)


def test_cli_units_json_and_tables() -> None:
    runner = CliRunner()
    result = runner.invoke(catalogue_group, ["units", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [u["slug"] for u in doc] == EXPECTED_SLUGS
    assert set(doc[0]) == {"slug", "name_zh", "name_en", "measures"}
    for command in ("measures", "units"):
        table = runner.invoke(catalogue_group, [command])
        assert table.exit_code == 0, table.output
        assert "finance" in table.output

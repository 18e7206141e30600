"""Schema files follow the conventions, and every version of a record reads every other one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hub import codec
from hub.schemas_cli import schemas

pytestmark = pytest.mark.unit

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "avro"
TOP_LEVEL = {
    "credithub.court.DebtorListed",
    "credithub.court.ListingShielded",
    "credithub.court.ListingRevoked",
    "credithub.court.ListingCorrected",
    "credithub.court.VerificationOpened",
    "credithub.court.VerificationClosed",
    "credithub.court.DecisionServed",
    "credithub.court.ReconsiderationApplied",
    "credithub.court.ReconsiderationDecided",
    "credithub.court.EmployerNotified",
    "credithub.court.RiskNoticeIssued",
    "credithub.court.CourtCheckpoint",
    "credithub.unit.UnitAcknowledged",
    "credithub.unit.UnitAckBatch",
    "credithub.unit.UnitCheckpoint",
    "credithub.republish.DeletionNotice",
    "credithub.republish.DeletionConfirmed",
    "credithub.supervision.FormalNotice",
    "credithub.supervision.FormalTalk",
    "credithub.supervision.ComplaintReceived",
    "credithub.supervision.ComplaintAnswered",
    "credithub.supervision.CreditRepairDecided",
}
Edit = Callable[[dict[str, Any]], None]


def _files() -> list[Path]:
    return sorted(REPO_SCHEMAS.glob("*.avsc"))


def _load(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _walk(schema: Any) -> Iterator[Any]:
    """Every schema node of one file (not following named references)."""
    yield schema
    if isinstance(schema, list):
        for branch in schema:
            yield from _walk(branch)
    elif isinstance(schema, dict):
        for field in schema.get("fields", []):
            yield from _walk(field["type"])
        for key in ("items", "values"):
            if key in schema:
                yield from _walk(schema[key])


# --------------------------------------------------------------------------- repository


def test_repository_schemas_are_fully_transitively_compatible() -> None:
    assert codec.check_compatibility() == []
    assert codec.check_compatibility(REPO_SCHEMAS) == []


def test_top_level_records_are_the_topic_records() -> None:
    assert set(codec.load_registry(REPO_SCHEMAS).versions) == TOP_LEVEL


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_file_conventions(path: Path) -> None:
    schema = _load(path)
    namespace = schema.get("namespace")
    assert namespace in {"credithub.common", "credithub.court", "credithub.unit", "credithub.republish",
                         "credithub.supervision"}
    assert "." not in schema["name"]
    assert path.name.startswith(f"{namespace}.{schema['name']}.v")
    assert schema.get("doc", "").strip(), "a named type needs a doc"
    for node in _walk(schema):
        if isinstance(node, dict) and node.get("type") == "record":
            for field in node["fields"]:
                assert field.get("doc", "").strip(), f"field {field['name']} needs a doc"
                kind = field["type"]
                if isinstance(kind, list):
                    # Optional = ["null", T] with default null; no other unions.
                    assert len(kind) == 2 and kind[0] == "null", field["name"]
                    assert "default" in field and field["default"] is None, field["name"]
                elif "default" in field:
                    pytest.fail(f"{field['name']}: only optional fields carry a default")
        if isinstance(node, dict) and node.get("type") == "enum":
            assert node.get("default") in node["symbols"], "every enum needs a default symbol"
        if isinstance(node, dict) and "logicalType" in node:
            assert (node["type"], node["logicalType"]) in {
                ("long", "timestamp-micros"),
                ("int", "date"),
            }
        if isinstance(node, str) and node not in {
            "null",
            "boolean",
            "int",
            "long",
            "float",
            "double",
            "bytes",
            "string",
        }:
            assert node.count(".") >= 2, f"refer to shared types by full name, not {node}"


# --------------------------------------------------------------------------- broken copies


@pytest.fixture
def schema_copy(tmp_path: Path) -> Path:
    target = tmp_path / "avro"
    shutil.copytree(REPO_SCHEMAS, target)
    return target


def add_version(directory: Path, full_name: str, version: int, edit: Edit) -> None:
    schema = _load(directory / f"{full_name}.v1.avsc")
    edit(schema)
    (directory / f"{full_name}.v{version}.avsc").write_text(
        json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8"
    )


def _field(name: str, kind: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "doc": "test field", **extra}


def _pin(**pins: int) -> Edit:
    def edit(schema: dict[str, Any]) -> None:
        schema[codec.PIN_ATTRIBUTE] = {k.replace("__", "."): v for k, v in pins.items()}

    return edit


def test_adding_an_optional_field_is_compatible(schema_copy: Path) -> None:
    add_version(
        schema_copy,
        "credithub.court.ListingRevoked",
        2,
        lambda s: s["fields"].append(_field("x", ["null", "string"], default=None)),
    )
    assert codec.check_compatibility(schema_copy) == []


def test_required_field_without_default_breaks_old_writers(schema_copy: Path) -> None:
    add_version(
        schema_copy,
        "credithub.court.DebtorListed",
        2,
        lambda s: s["fields"].append(_field("court_level", "string")),
    )
    problems = codec.check_compatibility(schema_copy)
    assert [(p.record, p.reader_version, p.writer_version, p.field) for p in problems] == [
        ("credithub.court.DebtorListed", 2, 1, "court_level")
    ]
    assert "no default" in problems[0].reason


def test_removing_a_field_without_default_breaks_new_writers(schema_copy: Path) -> None:
    def drop_note(schema: dict[str, Any]) -> None:
        schema["fields"] = [f for f in schema["fields"] if f["name"] != "reason"]

    add_version(schema_copy, "credithub.court.ListingRevoked", 2, drop_note)
    problems = codec.check_compatibility(schema_copy)
    # v1 reads v2 data: `reason` is gone and has no default.
    assert [(p.reader_version, p.writer_version, p.field) for p in problems] == [(1, 2, "reason")]


def test_removing_an_enum_symbol_without_default_names_the_nested_field(
    schema_copy: Path,
) -> None:
    def drop_symbol(schema: dict[str, Any]) -> None:
        schema["symbols"].remove("supervisor")
        del schema["default"]

    add_version(schema_copy, "credithub.common.Role", 2, drop_symbol)
    add_version(schema_copy, "credithub.court.DebtorListed", 2, _pin(credithub__common__Role=2))
    problems = codec.check_compatibility(schema_copy)
    assert {(p.reader_version, p.writer_version, p.field) for p in problems} == {
        (2, 1, "related.role")
    }
    assert "'supervisor'" in problems[0].reason


def test_removing_an_enum_symbol_with_a_default_is_compatible(schema_copy: Path) -> None:
    add_version(
        schema_copy,
        "credithub.court.Ground",
        2,
        lambda s: s["symbols"].remove("refuses_settlement"),
    )
    add_version(schema_copy, "credithub.court.DebtorListed", 2, _pin(credithub__court__Ground=2))
    assert codec.check_compatibility(schema_copy) == []


def test_narrowing_a_type_breaks_one_direction(schema_copy: Path) -> None:
    def narrow(schema: dict[str, Any]) -> None:
        for field in schema["fields"]:
            if field["name"] == "court_seq":
                field["type"] = "int"

    add_version(schema_copy, "credithub.court.EventMeta", 2, narrow)
    add_version(
        schema_copy, "credithub.court.VerificationClosed", 2, _pin(credithub__court__EventMeta=2)
    )
    problems = codec.check_compatibility(schema_copy)
    # v1 (long) reads v2 (int) by promotion; v2 (int) cannot read v1 (long).
    assert [(p.reader_version, p.writer_version, p.field) for p in problems] == [
        (2, 1, "meta.court_seq")
    ]


def test_changing_a_logical_type_is_incompatible(schema_copy: Path) -> None:
    def millis(schema: dict[str, Any]) -> None:
        schema["fields"][-1]["type"] = {"type": "long", "logicalType": "timestamp-millis"}

    add_version(schema_copy, "credithub.court.CourtCheckpoint", 2, millis)
    problems = codec.check_compatibility(schema_copy)
    assert {(p.reader_version, p.writer_version, p.field) for p in problems} == {
        (2, 1, "issued_at"),
        (1, 2, "issued_at"),
    }


def test_renaming_with_an_alias_is_compatible_one_way_only(schema_copy: Path) -> None:
    def rename(schema: dict[str, Any]) -> None:
        for field in schema["fields"]:
            if field["name"] == "tree_size":
                field["name"] = "size"
                field["aliases"] = ["tree_size"]

    add_version(schema_copy, "credithub.court.CourtCheckpoint", 2, rename)
    problems = codec.check_compatibility(schema_copy)
    # v2 finds tree_size through its alias; v1 finds no tree_size in v2 data.
    assert [(p.reader_version, p.writer_version, p.field) for p in problems] == [
        (1, 2, "tree_size")
    ]


def test_three_versions_are_checked_transitively(schema_copy: Path) -> None:
    add_version(
        schema_copy,
        "credithub.court.ListingRevoked",
        2,
        lambda s: s["fields"].append(_field("x", ["null", "string"], default=None)),
    )

    def required_x(schema: dict[str, Any]) -> None:
        schema["fields"].append(_field("x", "string", default=""))

    # v3 reads v1 (default) and v2 reads v3, but v3 cannot read v2's null branch.
    add_version(schema_copy, "credithub.court.ListingRevoked", 3, required_x)
    problems = codec.check_compatibility(schema_copy)
    assert [(p.reader_version, p.writer_version, p.field) for p in problems] == [(3, 2, "x")]


# --------------------------------------------------------------------------- CLI


def _broken(schema_copy: Path) -> Path:
    add_version(
        schema_copy,
        "credithub.court.DebtorListed",
        2,
        lambda s: s["fields"].append(_field("court_level", "string")),
    )
    return schema_copy


def test_cli_ok_table_and_json(schema_copy: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(schemas, ["check", "--dir", str(schema_copy)])
    assert result.exit_code == 0, result.output
    assert "22 records, 22 versions: compatible" in result.stdout
    result = runner.invoke(schemas, ["check", "--dir", str(schema_copy), "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "ok": True,
        "records": 22,
        "versions": 22,
        "incompatibilities": [],
    }


def test_cli_reports_the_breaking_field_on_stderr(schema_copy: Path) -> None:
    result = CliRunner().invoke(schemas, ["check", "--dir", str(_broken(schema_copy))])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "credithub.court.DebtorListed" in lines[0]
    assert "v2" in lines[0] and "v1" in lines[0] and "court_level" in lines[0]


def test_cli_json_on_incompatibility(schema_copy: Path) -> None:
    result = CliRunner().invoke(
        schemas, ["check", "--dir", str(_broken(schema_copy)), "--format", "json"]
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["versions"] == 23
    assert report["incompatibilities"][0]["field"] == "court_level"
    assert report["incompatibilities"][0]["reader_version"] == 2


def test_cli_unreadable_folder(tmp_path: Path) -> None:
    (tmp_path / "credithub.court.X.v1.avsc").write_text("{", encoding="utf-8")
    result = CliRunner().invoke(schemas, ["check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error:")


def test_console_script(schema_copy: Path) -> None:
    hub = Path(sys.executable).parent / "hub"
    if not hub.exists():
        pytest.skip("console script not installed")
    ok = subprocess.run(
        [str(hub), "schemas", "check", "--dir", str(schema_copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    broken = subprocess.run(
        [str(hub), "schemas", "check", "--dir", str(_broken(schema_copy)), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert broken.returncode == 1
    assert "court_level" in broken.stderr
    assert json.loads(broken.stdout)["ok"] is False

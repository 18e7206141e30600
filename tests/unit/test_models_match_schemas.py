"""The pydantic models of hub.domain.events and the latest .avsc versions say the same thing."""

from __future__ import annotations

import enum
import types
import typing
from datetime import date, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from hub import codec
from hub.domain import events

pytestmark = pytest.mark.unit

MODELS: list[type[BaseModel]] = [
    value
    for value in vars(events).values()
    if isinstance(value, type)
    and issubclass(value, BaseModel)
    and isinstance(getattr(value, "AVRO_NAME", None), str)
]
_ENUM_NAMES: dict[type, str] = getattr(events, "AVRO_ENUM_NAMES", {})


def _named_types() -> dict[str, dict[str, Any]]:
    """Every named type defined in the latest version of each top-level record."""
    found: dict[str, dict[str, Any]] = {}

    def walk(schema: Any) -> None:
        if isinstance(schema, list):
            for branch in schema:
                walk(branch)
        elif isinstance(schema, dict):
            if schema.get("type") in ("record", "enum", "fixed"):
                name = schema["name"]
                full = name if "." in name else f"{schema['namespace']}.{name}"
                found.setdefault(full, schema)
            for field in schema.get("fields", []):
                walk(field["type"])
            for key in ("items", "values"):
                if key in schema:
                    walk(schema[key])

    for versions in codec.registry().versions.values():
        walk(versions[-1].expanded)
    return found


NAMED = _named_types()


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        assert len(args) == 1, f"only T | None unions are mapped: {annotation}"
        inner, _ = _strip_optional(args[0])
        return inner, True
    return annotation, False


def _schema_optional(kind: Any) -> tuple[Any, bool]:
    if isinstance(kind, list):
        rest = [b for b in kind if b != "null"]
        assert len(rest) == 1 and "null" in kind, kind
        return rest[0], True
    return kind, False


def _resolve(kind: Any) -> Any:
    if isinstance(kind, str) and kind in NAMED:
        return NAMED[kind]
    if isinstance(kind, dict) and isinstance(kind.get("type"), dict | list):
        return kind["type"]
    return kind


def _compare(model: type[BaseModel], schema: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    schema_fields = {f["name"]: f for f in schema["fields"]}
    if set(model.model_fields) != set(schema_fields):
        problems.append(
            f"{path or model.__name__}: model fields {sorted(model.model_fields)} != "
            f"schema fields {sorted(schema_fields)}"
        )
    for name, info in model.model_fields.items():
        if name not in schema_fields:
            continue
        where = f"{path}.{name}" if path else f"{model.__name__}.{name}"
        annotation, model_optional = _strip_optional(info.annotation)
        kind, schema_optional = _schema_optional(schema_fields[name]["type"])
        if model_optional != schema_optional:
            problems.append(
                f"{where}: optional in model {model_optional}, schema {schema_optional}"
            )
        if schema_optional and info.default is not None:
            problems.append(f"{where}: optional field must default to None in the model")
        problems.extend(_compare_types(annotation, _resolve(kind), where))
    return problems


_PRIMITIVE = {str: "string", bool: "boolean", int: "long", bytes: "bytes"}


def _compare_types(annotation: Any, kind: Any, where: str) -> list[str]:
    if typing.get_origin(annotation) is list:
        if not (isinstance(kind, dict) and kind.get("type") == "array"):
            return [f"{where}: model list, schema {kind}"]
        (item,) = typing.get_args(annotation)
        return _compare_types(_strip_optional(item)[0], _resolve(kind["items"]), where)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if not (isinstance(kind, dict) and kind.get("type") == "record"):
            return [f"{where}: model {annotation.__name__}, schema {kind}"]
        problems = _compare(annotation, kind, where)
        avro_name = getattr(annotation, "AVRO_NAME", None)
        full = kind["name"] if "." in kind["name"] else f"{kind['namespace']}.{kind['name']}"
        if avro_name != full:
            problems.append(f"{where}: AVRO_NAME {avro_name} != {full}")
        return problems
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if not (isinstance(kind, dict) and kind.get("type") == "enum"):
            return [f"{where}: model enum {annotation.__name__}, schema {kind}"]
        problems = []
        values = [m.value for m in annotation]
        if values != kind["symbols"]:
            problems.append(f"{where}: enum values {values} != symbols {kind['symbols']}")
        full = f"{kind['namespace']}.{kind['name']}"
        if annotation in _ENUM_NAMES and _ENUM_NAMES[annotation] != full:
            problems.append(f"{where}: AVRO_ENUM_NAMES says {_ENUM_NAMES[annotation]}, not {full}")
        return problems
    logical = {datetime: ("long", "timestamp-micros"), date: ("int", "date")}
    if annotation in logical:
        expected = logical[annotation]
        actual = (kind.get("type"), kind.get("logicalType")) if isinstance(kind, dict) else kind
        return [] if actual == expected else [f"{where}: model {annotation}, schema {kind}"]
    if annotation in _PRIMITIVE:
        return (
            []
            if kind == _PRIMITIVE[annotation]
            else [f"{where}: model {annotation}, schema {kind}"]
        )
    return [f"{where}: no mapping for model type {annotation}"]


def test_there_are_models_for_every_top_level_record() -> None:
    names = {m.AVRO_NAME for m in MODELS}  # type: ignore[attr-defined]
    assert set(codec.registry().versions) <= names


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_model_matches_latest_schema(model: type[BaseModel]) -> None:
    full_name = model.AVRO_NAME  # type: ignore[attr-defined]
    assert full_name in NAMED, f"no schema defines {full_name}"
    assert _compare(model, NAMED[full_name], "") == []


def test_every_schema_enum_has_a_model_enum() -> None:
    if not _ENUM_NAMES:
        pytest.skip("hub.domain.events has no AVRO_ENUM_NAMES")
    enums = {name for name, schema in NAMED.items() if schema["type"] == "enum"}
    assert enums == set(_ENUM_NAMES.values())

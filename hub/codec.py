"""Avro codec for the hub's topics: single-object encoding, schema resolution, compatibility.

Schema files live in `schemas/avro/` (or `$HUB_SCHEMAS_DIR`), one named type a file, named
`<full.name>.v<N>.avsc`. A schema refers to a shared named type by its full name; at load
the codec expands each reference into the definition so that every version is a
self-contained Avro schema whose parsing canonical form (and so fingerprint) is fixed.

Which version of a shared type a reference means: the lowest version on disk, unless the
referring top-level file pins another one with the extra attribute
`"x-shared-versions": {"credithub.common.Subject": 2}` (extra attributes are not part of
the canonical form, so pinning never changes a fingerprint). Defaulting to the lowest
version keeps the fingerprints of existing records stable when a shared type gains a v2:
only a new top-level version that pins v2 adopts it.

Top-level records (the ones that travel on topics) are the records that no other schema
file refers to. The writer schema of a record type is its latest version; every version on
disk stays readable, looked up by fingerprint and resolved to the latest version.

Wire format (Avro spec, "Single object encoding"): `C3 01`, then the CRC-64-AVRO
fingerprint of the writer schema's parsing canonical form as 8 bytes little-endian (as the
Java reference implementation writes it), then the Avro binary body.
"""

from __future__ import annotations

import copy
import enum
import functools
import importlib
import io
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint as _fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form
from pydantic import BaseModel, ValidationError

from hub.errors import HubError

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8
SCHEMAS_DIR_ENV = "HUB_SCHEMAS_DIR"
PIN_ATTRIBUTE = "x-shared-versions"
EVENTS_MODULE = "hub.domain.events"

_FILE_NAME = re.compile(
    r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"\.v(?P<version>[1-9][0-9]*)\.avsc$"
)
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})


class CodecError(HubError):
    """Schemas cannot be loaded, or a value cannot be encoded or decoded."""


class UnknownSchemaError(CodecError):
    """The value does not name a schema this hub knows (no marker or unknown fingerprint)."""


class DecodeError(CodecError):
    """The value names a known schema but its bytes do not decode under it."""


@dataclass(frozen=True)
class SchemaVersion:
    """One top-level record version on disk, fully expanded and parsed."""

    full_name: str
    version: int
    path: Path
    expanded: dict[str, Any]  # plain JSON, references expanded; input of the checker
    parsed: dict[str, Any]  # fastavro's parsed form; input of reader and writer
    canonical: str
    fingerprint: bytes  # 8 bytes, wire order (little-endian)


@dataclass(frozen=True)
class Registry:
    """Every top-level version in one schema folder, by name and by fingerprint."""

    directory: Path
    versions: Mapping[str, tuple[SchemaVersion, ...]]  # oldest first
    by_fingerprint: Mapping[bytes, SchemaVersion]

    def latest(self, full_name: str) -> SchemaVersion:
        try:
            return self.versions[full_name][-1]
        except KeyError:
            raise UnknownSchemaError(f"no schema named {full_name} in {self.directory}") from None


@dataclass(frozen=True)
class Incompatibility:
    """One way in which one version of a record cannot read another."""

    record: str
    reader_version: int
    writer_version: int
    field: str  # dotted path from the record, "" for the record itself
    reason: str

    def __str__(self) -> str:
        where = self.field or "<record>"
        return (
            f"{self.record}: v{self.reader_version} cannot read v{self.writer_version}: "
            f"field {where}: {self.reason}"
        )


# --------------------------------------------------------------------------- loading


def schemas_dir() -> Path:
    """The schema folder: `$HUB_SCHEMAS_DIR`, else `schemas/avro` beside the package."""
    return _resolve_dir(os.environ.get(SCHEMAS_DIR_ENV) or None)


@functools.cache
def _resolve_dir(override: str | None) -> Path:
    # Cached because every encode/decode asks, and resolving a path is a system call.
    if override:
        return Path(override).resolve()
    return Path(__file__).resolve().parents[1] / "schemas" / "avro"


def crc64_avro_fingerprint(canonical: str) -> bytes:
    """CRC-64-AVRO of a parsing canonical form, in wire (little-endian) byte order."""
    # fastavro already returns the little-endian hex (tests cross-check it against the
    # spec's reference values); going through hex keeps the one implementation.
    return bytes.fromhex(_fastavro_fingerprint(canonical, "CRC-64-AVRO"))


def _full_name(name: str, namespace: str | None) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _read_files(directory: Path) -> dict[str, dict[int, tuple[Path, dict[str, Any]]]]:
    if not directory.is_dir():
        raise CodecError(f"schema folder {directory} does not exist")
    files: dict[str, dict[int, tuple[Path, dict[str, Any]]]] = {}
    for path in sorted(directory.glob("*.avsc")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise CodecError(f"{path.name}: expected a name like <full.name>.v<N>.avsc")
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CodecError(f"{path.name}: not readable JSON: {e}") from e
        if not isinstance(schema, dict) or schema.get("type") not in _NAMED:
            raise CodecError(f"{path.name}: a schema file holds one named type")
        declared = _full_name(str(schema.get("name", "")), schema.get("namespace"))
        if declared != match["name"]:
            raise CodecError(f"{path.name}: declares {declared}, file name says {match['name']}")
        files.setdefault(declared, {})[int(match["version"])] = (path, schema)
    return files


def _references(schema: Any, namespace: str | None, out: set[str]) -> None:
    """Collect the full names this schema refers to without defining them."""
    if isinstance(schema, str):
        if schema not in _PRIMITIVES:
            out.add(_full_name(schema, namespace))
    elif isinstance(schema, list):
        for branch in schema:
            _references(branch, namespace, out)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in _NAMED:
            namespace = _full_name(schema["name"], schema.get("namespace")).rpartition(".")[0]
            for field in schema.get("fields", []):
                _references(field["type"], namespace, out)
        elif kind == "array":
            _references(schema["items"], namespace, out)
        elif kind == "map":
            _references(schema["values"], namespace, out)
        elif isinstance(kind, list | dict) or (isinstance(kind, str) and kind not in _PRIMITIVES):
            _references(kind, namespace, out)


def _expand(
    schema: Any,
    namespace: str | None,
    files: Mapping[str, Mapping[int, tuple[Path, dict[str, Any]]]],
    pins: Mapping[str, int],
    defined: set[str],
    origin: str,
) -> Any:
    """Inline the first reference to each shared type; later ones stay names, as Avro wants."""
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema
        full = _full_name(schema, namespace)
        if full in defined:
            return full
        if full not in files:
            raise CodecError(f"{origin}: unknown type {full}")
        versions = files[full]
        version = pins.get(full, min(versions))
        if version not in versions:
            raise CodecError(f"{origin}: pins {full} v{version}, which is not on disk")
        return _expand(copy.deepcopy(versions[version][1]), None, files, pins, defined, origin)
    if isinstance(schema, list):
        return [_expand(b, namespace, files, pins, defined, origin) for b in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    result = dict(schema)
    if kind in _NAMED:
        full = _full_name(schema["name"], schema.get("namespace", namespace))
        defined.add(full)
        inner_ns = full.rpartition(".")[0] or None
        if "fields" in schema:
            result["fields"] = [
                {
                    **field,
                    "type": _expand(field["type"], inner_ns, files, pins, defined, origin),
                }
                for field in schema["fields"]
            ]
    elif kind == "array":
        result["items"] = _expand(schema["items"], namespace, files, pins, defined, origin)
    elif kind == "map":
        result["values"] = _expand(schema["values"], namespace, files, pins, defined, origin)
    elif isinstance(kind, list | dict) or (isinstance(kind, str) and kind not in _PRIMITIVES):
        # {"type": <reference or schema>} is only a wrapper: expand what it wraps.
        return _expand(kind, namespace, files, pins, defined, origin)
    return result


def load_registry(directory: Path) -> Registry:
    """Read, expand, parse and fingerprint every top-level version in `directory`."""
    files = _read_files(directory)
    referenced: set[str] = set()
    for versions in files.values():
        for _, schema in versions.values():
            refs: set[str] = set()
            _references(schema, None, refs)
            referenced |= refs
    by_name: dict[str, tuple[SchemaVersion, ...]] = {}
    by_fingerprint: dict[bytes, SchemaVersion] = {}
    for full_name, versions in sorted(files.items()):
        if full_name in referenced or versions[min(versions)][1].get("type") not in (
            "record",
            "error",
        ):
            continue
        loaded: list[SchemaVersion] = []
        for version in sorted(versions):
            path, raw = versions[version]
            pins = raw.get(PIN_ATTRIBUTE, {})
            if not isinstance(pins, dict):
                raise CodecError(f"{path.name}: {PIN_ATTRIBUTE} must map full names to versions")
            expanded = _expand(raw, None, files, pins, set(), path.name)
            try:
                parsed = parse_schema(copy.deepcopy(expanded), named_schemas={})
                canonical = to_parsing_canonical_form(copy.deepcopy(expanded))
            except Exception as e:  # fastavro raises several types for a bad schema
                raise CodecError(f"{path.name}: not a valid Avro schema: {e}") from e
            sv = SchemaVersion(
                full_name=full_name,
                version=version,
                path=path,
                expanded=expanded,
                parsed=cast(dict[str, Any], parsed),
                canonical=canonical,
                fingerprint=crc64_avro_fingerprint(canonical),
            )
            clash = by_fingerprint.get(sv.fingerprint)
            if clash is not None and clash.full_name != full_name:
                raise CodecError(
                    f"{path.name} and {clash.path.name} have the same fingerprint "
                    f"{sv.fingerprint.hex()}"
                )
            # Two versions that differ only in docs share a fingerprint: either decodes.
            by_fingerprint[sv.fingerprint] = sv
            loaded.append(sv)
        by_name[full_name] = tuple(loaded)
    return Registry(directory=directory, versions=by_name, by_fingerprint=by_fingerprint)


@functools.cache
def _cached_registry(directory: Path) -> Registry:
    return load_registry(directory)


def registry() -> Registry:
    """The registry of the current schema folder, parsed once per folder per process."""
    return _cached_registry(schemas_dir())


def reset() -> None:
    """Forget parsed schemas and models (a folder's files changed within one process)."""
    _cached_registry.cache_clear()
    _resolve_dir.cache_clear()
    _models.cache_clear()


# --------------------------------------------------------------------------- models


@functools.cache
def _models() -> dict[str, type[BaseModel]]:
    module = importlib.import_module(EVENTS_MODULE)
    found: dict[str, type[BaseModel]] = {}
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            name = getattr(value, "AVRO_NAME", None)
            if isinstance(name, str):
                found[name] = value
    return found


def model_class(full_name: str) -> type[BaseModel]:
    """The model class of `hub.domain.events` that stands for an Avro record."""
    try:
        return _models()[full_name]
    except KeyError:
        raise UnknownSchemaError(f"no model in {EVENTS_MODULE} has AVRO_NAME {full_name}") from None


def _plain(value: Any) -> Any:
    """Enum members become their values, recursively; fastavro wants plain data."""
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- public API


def fingerprint_of(full_name: str) -> bytes:
    """8-byte wire fingerprint of the latest (writer) version of a top-level record."""
    return registry().latest(full_name).fingerprint


def schema_of(full_name: str) -> dict[str, Any]:
    """fastavro-parsed latest version of a top-level record."""
    return registry().latest(full_name).parsed


def encode_dict(full_name: str, record: Mapping[str, Any]) -> bytes:
    """Single-object encode a plain Avro record under the latest version of `full_name`."""
    writer = registry().latest(full_name)
    buffer = io.BytesIO()
    buffer.write(MARKER)
    buffer.write(writer.fingerprint)
    try:
        # strict: a key the schema lacks is a model/schema mismatch, not data to drop.
        schemaless_writer(buffer, writer.parsed, dict(record), strict_allow_default=True)
    except Exception as e:  # fastavro raises ValueError/TypeError/KeyError/...
        raise CodecError(f"cannot encode {full_name} v{writer.version}: {e}") from e
    return buffer.getvalue()


def encode(model: BaseModel) -> bytes:
    """Single-object encode a model of `hub.domain.events` under its latest schema."""
    full_name = getattr(type(model), "AVRO_NAME", None)
    if not isinstance(full_name, str):
        raise CodecError(f"{type(model).__name__} has no AVRO_NAME: not an Avro record")
    return encode_dict(full_name, _plain(model.model_dump(mode="python")))


def _writer_of(data: bytes) -> SchemaVersion:
    if len(data) < len(MARKER) or data[: len(MARKER)] != MARKER:
        raise UnknownSchemaError("not an Avro single-object value (no C3 01 marker)")
    if len(data) < HEADER_SIZE:
        raise DecodeError(f"truncated header: {len(data)} bytes, need {HEADER_SIZE}")
    fingerprint = bytes(data[len(MARKER) : HEADER_SIZE])
    writer = registry().by_fingerprint.get(fingerprint)
    if writer is None:
        raise UnknownSchemaError(f"unknown schema fingerprint {fingerprint.hex()}")
    return writer


def record_name(data: bytes) -> str:
    """Full name of the record a value holds, from its header alone."""
    return _writer_of(data).full_name


def decode_dict(data: bytes) -> tuple[str, dict[str, Any]]:
    """Decode a value into (full name, record resolved to the latest version)."""
    writer = _writer_of(data)
    reader = registry().latest(writer.full_name)
    stream = io.BytesIO(data)
    stream.seek(HEADER_SIZE)
    try:
        record = schemaless_reader(
            stream, writer.parsed, None if reader is writer else reader.parsed
        )
    except Exception as e:  # any failure of the body is bad bytes, whatever fastavro raises
        raise DecodeError(
            f"cannot decode {writer.full_name} v{writer.version} as v{reader.version}: "
            f"{type(e).__name__}: {e}"
        ) from e
    if stream.tell() != len(data):
        raise DecodeError(
            f"{len(data) - stream.tell()} trailing bytes after {writer.full_name} v{writer.version}"
        )
    if not isinstance(record, dict):
        raise DecodeError(f"{writer.full_name}: body is not a record")
    return writer.full_name, record


def decode(data: bytes) -> BaseModel:
    """Decode a value into the model instance of its record type."""
    full_name, record = decode_dict(data)
    cls = model_class(full_name)
    try:
        return cls.model_validate(record)
    except ValidationError as e:
        raise DecodeError(f"{full_name}: decoded record is not a valid model: {e}") from e


# --------------------------------------------------------------------------- compatibility


_PROMOTIONS: dict[str, frozenset[str]] = {
    # writer type -> reader types that may read it (Avro spec, "Schema Resolution")
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


def _index(schema: Any, namespace: str | None, names: dict[str, dict[str, Any]]) -> Any:
    """Copy of `schema` with full names everywhere; named definitions collected in `names`."""
    if isinstance(schema, str):
        return schema if schema in _PRIMITIVES else _full_name(schema, namespace)
    if isinstance(schema, list):
        return [_index(b, namespace, names) for b in schema]
    kind = schema["type"]
    result = dict(schema)
    if kind in _NAMED:
        full = _full_name(schema["name"], schema.get("namespace", namespace))
        inner_ns = full.rpartition(".")[0] or None
        result["name"] = full
        result["aliases"] = [_full_name(a, inner_ns) for a in schema.get("aliases", [])]
        names[full] = result
        if "fields" in schema:
            result["fields"] = [
                {**f, "type": _index(f["type"], inner_ns, names)} for f in schema["fields"]
            ]
        return full
    if kind == "array":
        result["items"] = _index(schema["items"], namespace, names)
    elif kind == "map":
        result["values"] = _index(schema["values"], namespace, names)
    elif not isinstance(kind, str) or kind not in _PRIMITIVES:
        return _index(kind, namespace, names)
    return result


class _Checker:
    """Avro schema resolution: can data written with `writer` be read with `reader`?"""

    def __init__(self, reader: dict[str, Any], writer: dict[str, Any]) -> None:
        self.r_names: dict[str, dict[str, Any]] = {}
        self.w_names: dict[str, dict[str, Any]] = {}
        self.reader = _index(reader, None, self.r_names)
        self.writer = _index(writer, None, self.w_names)
        self.seen: set[tuple[str, str]] = set()

    def problems(self) -> list[tuple[str, str]]:
        return list(self._check(self.reader, self.writer, ""))

    def _resolve(self, schema: Any, names: Mapping[str, dict[str, Any]]) -> Any:
        if isinstance(schema, str):
            return names.get(schema, {"type": schema})
        return schema

    @staticmethod
    def _kind(schema: Any) -> str:
        return "union" if isinstance(schema, list) else str(schema["type"])

    @staticmethod
    def _describe(schema: Any) -> str:
        if isinstance(schema, list):
            return "union"
        logical = schema.get("logicalType")
        kind = schema.get("name") if schema["type"] in _NAMED else schema["type"]
        return f"{kind} ({logical})" if logical else str(kind)

    def _check(self, reader: Any, writer: Any, path: str) -> Iterator[tuple[str, str]]:
        reader = self._resolve(reader, self.r_names)
        writer = self._resolve(writer, self.w_names)
        if isinstance(writer, list):
            # Full compatibility: any branch the writer may use must be readable.
            for branch in writer:
                yield from self._check(reader, branch, path)
            return
        if isinstance(reader, list):
            for branch in reader:  # the first branch that matches is the one Avro picks
                if not list(self._check(branch, writer, path)):
                    return
            yield path, f"no branch of the reader union can read writer {self._describe(writer)}"
            return
        r_kind, w_kind = self._kind(reader), self._kind(writer)
        if r_kind != w_kind and r_kind not in _PROMOTIONS.get(w_kind, frozenset()):
            yield (
                path,
                f"reader {self._describe(reader)} cannot read writer {self._describe(writer)}",
            )
            return
        if reader.get("logicalType") != writer.get("logicalType"):
            # Same underlying type but another meaning (e.g. millis vs micros): a silent
            # misreading is worse than an error, so the checker refuses it.
            yield (
                path,
                (
                    f"logical type {reader.get('logicalType')} cannot read "
                    f"{writer.get('logicalType')}"
                ),
            )
            return
        if reader.get("logicalType") == "decimal" and (
            reader.get("precision"),
            reader.get("scale", 0),
        ) != (writer.get("precision"), writer.get("scale", 0)):
            yield path, "decimal precision/scale differ"
            return
        if r_kind in _NAMED and not self._same_name(reader, writer):
            yield path, f"reader type {reader['name']} does not match writer type {writer['name']}"
            return
        if r_kind == "array":
            yield from self._check(reader["items"], writer["items"], path)
        elif r_kind == "map":
            yield from self._check(reader["values"], writer["values"], path)
        elif r_kind == "fixed" and reader["size"] != writer["size"]:
            yield path, f"fixed size {reader['size']} cannot read size {writer['size']}"
        elif r_kind == "enum":
            yield from self._check_enum(reader, writer, path)
        elif r_kind in ("record", "error"):
            yield from self._check_record(reader, writer, path)

    @staticmethod
    def _same_name(reader: Mapping[str, Any], writer: Mapping[str, Any]) -> bool:
        return bool(reader["name"] == writer["name"] or writer["name"] in reader["aliases"])

    def _check_enum(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> Iterator[tuple[str, str]]:
        default = reader.get("default")
        if default is not None and default not in reader["symbols"]:
            yield path, f"enum {reader['name']} default {default!r} is not one of its symbols"
            return
        for symbol in writer["symbols"]:
            if symbol not in reader["symbols"] and default is None:
                yield (
                    path,
                    (
                        f"writer symbol {symbol!r} is missing from reader enum {reader['name']}, "
                        "which has no default"
                    ),
                )

    def _check_record(
        self, reader: Mapping[str, Any], writer: Mapping[str, Any], path: str
    ) -> Iterator[tuple[str, str]]:
        key = (reader["name"], writer["name"])
        if key in self.seen:  # recursive types: a pair already under check is assumed fine
            return
        self.seen.add(key)
        w_fields = {f["name"]: f for f in writer["fields"]}
        for field in reader["fields"]:
            where = f"{path}.{field['name']}" if path else field["name"]
            match = next(
                (w_fields[n] for n in (field["name"], *field.get("aliases", [])) if n in w_fields),
                None,
            )
            if match is not None:
                yield from self._check(field["type"], match["type"], where)
            elif "default" not in field:
                yield where, "reader field is missing from the writer and has no default"
            elif not self._default_fits(field["type"], field["default"]):
                yield where, f"default {field['default']!r} does not fit the field type"

    def _default_fits(self, schema: Any, value: Any) -> bool:
        schema = self._resolve(schema, self.r_names)
        if isinstance(schema, list):  # a union's default belongs to its first branch
            return bool(schema) and self._default_fits(schema[0], value)
        kind = schema["type"]
        checks: dict[str, Any] = {
            "null": lambda v: v is None,
            "boolean": lambda v: isinstance(v, bool),
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "bytes": lambda v: isinstance(v, str),
            "string": lambda v: isinstance(v, str),
            "fixed": lambda v: isinstance(v, str),
            "enum": lambda v: v in schema["symbols"],
            "array": lambda v: isinstance(v, list),
            "map": lambda v: isinstance(v, dict),
            "record": lambda v: isinstance(v, dict),
            "error": lambda v: isinstance(v, dict),
        }
        check = checks.get(kind)
        return bool(check(value)) if check else False


def can_read(reader: dict[str, Any], writer: dict[str, Any]) -> list[tuple[str, str]]:
    """(field path, reason) for every way `reader` fails to read data of `writer`."""
    return _Checker(reader, writer).problems()


def check_compatibility(schema_dir: Path | None = None) -> list[Incompatibility]:
    """Full transitive compatibility: every version of each record reads every other one."""
    loaded = load_registry(schema_dir.resolve() if schema_dir else schemas_dir())
    found: list[Incompatibility] = []
    for full_name, versions in loaded.versions.items():
        for reader in versions:
            for writer in versions:
                if reader is writer:
                    continue
                for field, reason in can_read(reader.expanded, writer.expanded):
                    found.append(
                        Incompatibility(full_name, reader.version, writer.version, field, reason)
                    )
    return found

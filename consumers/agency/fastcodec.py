"""The consumer's hot-path codec: `hub.codec` with the schema registry looked up once.

`hub.codec.decode`/`encode_dict` resolve the registry (schema folder, cached parse) on every
call, which costs as much as the Avro work itself at thousands of records per second. Here
the writer/reader pair of each fingerprint and the model class are kept per instance. Only
the happy path is fast: any value this path cannot decode is decoded again by
`hub.codec.decode`, which raises the exact error a dead letter carries.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from pydantic import BaseModel

from hub import codec


class FastDecoder:
    def __init__(self) -> None:
        # fingerprint -> (writer schema, reader schema or None, model class)
        self._plans: dict[bytes, tuple[Any, Any, type[BaseModel]]] = {}

    def _plan(self, fingerprint: bytes) -> tuple[Any, Any, type[BaseModel]] | None:
        plan = self._plans.get(fingerprint)
        if plan is None:
            reg = codec.registry()
            writer = reg.by_fingerprint.get(fingerprint)
            if writer is None:
                return None
            reader = reg.latest(writer.full_name)
            plan = (writer.parsed, None if reader is writer else reader.parsed,
                    codec.model_class(writer.full_name))
            self._plans[fingerprint] = plan
        return plan

    def decode(self, data: bytes) -> BaseModel:
        """Same result as `hub.codec.decode(data)` (errors included)."""
        plan = (self._plan(bytes(data[2:codec.HEADER_SIZE]))
                if data[:2] == codec.MARKER and len(data) >= codec.HEADER_SIZE else None)
        if plan is None:
            return codec.decode(data)
        writer, reader, cls = plan
        stream = io.BytesIO(data)
        stream.seek(codec.HEADER_SIZE)
        try:
            record = schemaless_reader(stream, writer, reader)
            ok = stream.tell() == len(data) and isinstance(record, dict)
        except Exception:  # noqa: BLE001 - the slow path names the problem
            ok = False
        if not ok:
            return codec.decode(data)
        try:
            return cls.model_validate(record)
        except Exception:  # noqa: BLE001 - the slow path raises the DecodeError
            return codec.decode(data)


class FastEncoder:
    """`hub.codec.encode_dict` for one record type, schema looked up once."""

    def __init__(self, full_name: str) -> None:
        writer = codec.registry().latest(full_name)
        self.full_name = full_name
        self._header = codec.MARKER + writer.fingerprint
        self._schema = writer.parsed

    def encode(self, record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(self._header)
        try:
            schemaless_writer(buffer, self._schema, record, strict_allow_default=True)
        except Exception:  # noqa: BLE001 - the slow path raises the CodecError
            return codec.encode_dict(self.full_name, record)
        return buffer.getvalue()

"""`hub agency serve`: the unit's screening API (FastAPI; OpenAPI at /openapi.json).

Sync endpoints run in FastAPI's thread pool; each thread keeps its own autocommit
connection, so a check is one round trip to PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from consumers.agency import schema, screening
from consumers.agency.store import position
from hub import db
from hub.config import Settings
from hub.errors import InputError, ServiceUnavailable


class _Connections(threading.local):
    conn: db.Connection | None = None


def create_app(s: Settings, unit: str) -> FastAPI:
    sch = schema.schema_name(s, unit)
    local = _Connections()
    app = FastAPI(
        title=f"credit-hub screening API — unit {unit}",
        description="Pre-review check against the dishonest judgment debtor list "
                    "(policy 三(二)2): block, review or clear, with the measures and the "
                    "log position behind the answer.",
        version="1",
    )

    def cursor_call(fn: Any, *args: Any) -> Any:
        for attempt in (1, 2):
            conn = local.conn
            try:
                if conn is None or conn.closed:
                    conn = local.conn = db.connect(s.pg_dsn, f"hub-agency-api-{unit}")
                    conn.autocommit = True
                with conn.cursor() as cur:
                    return fn(cur, sch, *args)
            except ServiceUnavailable as e:
                raise HTTPException(503, str(e)) from e
            except Exception as e:
                if db.is_disconnect(e) and attempt == 1:
                    local.conn = None
                    continue
                raise
        raise HTTPException(503, "PostgreSQL unavailable")  # pragma: no cover

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        pos = cursor_call(position)
        return {"status": "ok", "unit": unit, "position": pos}

    @app.get("/v1/check")
    def check(
        id_number: Annotated[str, Query(description="resident ID or unified social credit code")],
        measure: Annotated[str | None, Query(description="measure code (A1…L1) of the act")] = None,
        at: Annotated[datetime | None, Query(description="moment of valid time (ISO 8601)")] = None,
    ) -> dict[str, Any]:
        try:
            return cursor_call(screening.check, id_number, measure, at)  # type: ignore[no-any-return]
        except InputError as e:
            raise HTTPException(422, str(e)) from e

    @app.get("/v1/listings/{listing_id}")
    def get_listing(listing_id: str) -> dict[str, Any]:
        found = cursor_call(screening.listing, listing_id)
        if found is None:
            raise HTTPException(404, f"unknown listing {listing_id!r}")
        return found  # type: ignore[no-any-return]

    return app


def serve(s: Settings, unit: str, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(s, unit), host=host, port=port, log_level="warning",
                access_log=False)

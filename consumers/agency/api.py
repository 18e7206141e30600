"""`hub agency serve`: the unit's screening service (FastAPI; OpenAPI at /openapi.json,
described in docs/screening-api.md), the automatic comparison an approval system calls
before it grants (policy 三(二)2).

- Callers are authenticated: an API key (`Authorization: Bearer`, `consumers.agency.apikeys`)
  or, where the agency prefers it, a client certificate (mutual TLS: `serve --tls-*`).
  Every endpoint but /healthz and /openapi.json needs one.
- Questions travel in the body (`POST /v1/checks`, `/v1/checks:batch`), never in the URL
  where proxies and access logs keep them; `GET /v1/check` stays one release, deprecated.
- Every answer is recorded (`consumers.agency.querylog`), with a keyed fingerprint of the
  subject, never the clear number.
- No false clear: an unknown measure code or an impossible ID number is a 422 naming it.
- Errors are RFC 9457 problem details; /metrics in Prometheus format.

Sync endpoints run in the thread pool; each thread keeps its own autocommit connection.
"""

# No `from __future__ import annotations` here: the request models are built per unit
# (its measure codes), and FastAPI must see the endpoints' annotations as objects.
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from consumers.agency import apikeys, querylog, schema, screening
from consumers.agency.api_metrics import Metrics
from consumers.agency.api_models import (
    ID_FIELD,
    ID_FORMAT,
    ID_PATTERN,
    PROBLEM_TYPE,
    BatchAnswer,
    CheckAnswer,
    Health,
    Moment,
    measure_codes,
    problem_responses,
    request_models,
)
from consumers.agency.store import position
from consumers.agency.unitsecret import keyed_hash, unit_secret
from hub import db
from hub.config import Settings
from hub.domain.identity import mask
from hub.errors import InputError, ServiceUnavailable
from hub.log import get_logger

log = get_logger("hub.agency.api")
ACCESS = get_logger("hub.agency.access")


class _Connections(threading.local):
    conn: db.Connection | None = None


def _problem(status: int, title: str, detail: str, request: Request,
             errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail, "instance": request.url.path}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


def _masked(value: Any, clear: bool) -> Any:
    """A listing with every `id_number` masked, unless the caller may see them."""
    if clear:
        return value
    if isinstance(value, dict):
        return {k: (mask(v) if k == "id_number" and isinstance(v, str) else _masked(v, clear))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, clear) for v in value]
    return value


def _json(doc: dict[str, Any]) -> Response:
    """An answer as JSON bytes (orjson). The endpoints' response models document it;
    FastAPI's validating our own answers again cost more than the check for a batch."""
    return Response(orjson.dumps(doc), media_type="application/json")


class AccessLog:
    """Our own access log (pure ASGI, so it adds no task per request): method, path (never
    the query string, where the deprecated GET carries an ID number), status, caller, time;
    and the latency histogram. uvicorn's own access log is off."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            path = scope["path"]
            if path.startswith("/v1/"):
                self.metrics.latency.labels(path).observe(elapsed)
            ACCESS.info("request", method=scope["method"], path=path, status=status[0],
                        caller=(scope.get("state") or {}).get("caller"), ms=round(elapsed * 1000, 2))


def create_app(s: Settings, unit: str, *, tls_client_scope: str | None = None) -> FastAPI:
    """The app. `tls_client_scope`: the scope a verified client certificate grants (mutual
    TLS, `serve --tls-client-ca`); None: API keys only."""
    sch = schema.schema_name(s, unit)
    secret = unit_secret(s, unit)
    local = _Connections()
    metrics = Metrics(s, unit, sch)
    CheckRequest, BatchRequest = request_models(unit)  # noqa: N806 - model classes
    MeasureCode = Literal[tuple(measure_codes(unit))]  # type: ignore[valid-type]  # noqa: N806
    recorder = querylog.Recorder(s.pg_dsn, sch, s.query_retention_days, flush_seconds=s.query_flush_seconds)
    metrics.recorder = recorder

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # After the server stopped taking requests and answered the last one: what is
            # buffered is written now (a clean stop loses no recorded question).
            recorder.close()
            metrics.close()

    app = FastAPI(
        title=f"credit-hub screening API — unit {unit}",
        description="Pre-review check against the dishonest judgment debtor list "
                    "(policy 三(二)2): block, review or clear, with the measures and the "
                    "log position behind the answer. Every answer is recorded.",
        version="2", lifespan=lifespan, docs_url=None, redoc_url=None,
    )
    bearer = HTTPBearer(auto_error=False, scheme_name="apiKey",
                        description="an API key from `hub agency api-keys create`")

    def cursor_call(fn: Callable[..., Any], *args: Any) -> Any:
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
                if db.is_disconnect(e):
                    local.conn = None
                    if attempt == 1:
                        continue
                    raise HTTPException(503, "PostgreSQL unavailable") from e
                raise
        raise HTTPException(503, "PostgreSQL unavailable")  # pragma: no cover

    def caller(scope: str) -> Callable[..., apikeys.Caller]:
        def dependency(request: Request,
                       cred: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
                       ) -> apikeys.Caller:
            who: apikeys.Caller | None = None
            if cred is not None:
                who = cursor_call(apikeys.authenticate, secret, cred.credentials)
                if who is None:
                    raise HTTPException(401, "unknown or revoked API key")
            else:
                tls_name = (request.scope.get("state") or {}).get("tls_client")
                if tls_name and tls_client_scope:
                    who = apikeys.Caller(f"tls:{tls_name}", apikeys.granted([tls_client_scope]))
            if who is None:
                raise HTTPException(401, "a credential is required: Authorization: Bearer <API key>")
            if not who.may(scope):
                raise HTTPException(403, f"this credential lacks the {scope!r} scope")
            request.state.caller = who.name  # for the access log (scope["state"])
            return who
        return dependency

    def only_query(*names: str) -> Callable[[Request], None]:
        """Refuse query parameters the operation does not declare (a typo must not be
        silently ignored, and questions do not belong in URLs)."""
        def dependency(request: Request) -> None:
            unknown = sorted(set(request.query_params) - set(names))
            if unknown:
                raise InputError(f"unknown query parameter {unknown[0]!r}"
                                 + (f" (this operation takes {', '.join(names)})" if names else
                                    " (this operation takes none: the question goes in the body)"))
        return dependency

    def answer(who: apikeys.Caller, questions: list[screening.Subject]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        answers, pos = cursor_call(screening.check_many, questions)
        now = datetime.now(UTC)
        recorder.record([
            querylog.Query(now, who.name, keyed_hash(secret, "subject", q.id_number), q.measure,
                           q.at, a["decision"], a["measures"], pos)
            for q, a in zip(questions, answers, strict=True)])
        for a in answers:
            metrics.checks.labels(a["decision"]).inc()
        return answers, pos

    def question(req: Any, where: str = "") -> screening.Subject:
        try:
            return screening.subject(req.id_number, req.measure, req.at, unit)
        except InputError as e:
            raise InputError(f"{where}{e}") from None

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {400: "Bad request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found",
                  405: "Method not allowed", 503: "Service unavailable"}
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return _problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail),
                        request, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_problem(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
                  for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return _problem(422, "Invalid input", detail, request, errors=jsonable_encoder(errors))

    @app.exception_handler(InputError)
    async def input_problem(request: Request, exc: InputError) -> JSONResponse:
        return _problem(422, "Invalid input", str(exc), request)

    app.add_middleware(AccessLog, metrics=metrics)

    @app.get("/healthz", response_model=Health, responses=problem_responses(503))
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "unit": unit, "position": cursor_call(position)}

    @app.post("/v1/checks", response_model=CheckAnswer, dependencies=[Depends(only_query())],
              responses=problem_responses(400, 401, 403, 422, 503))
    def checks(req: CheckRequest,
               who: Annotated[apikeys.Caller, Depends(caller("check"))]) -> Response:
        """block | review | clear for one subject, with the measures and log position."""
        [one], pos = answer(who, [question(req)])
        return _json({**one, "position": pos})

    @app.post("/v1/checks:batch", response_model=BatchAnswer, dependencies=[Depends(only_query())],
              responses=problem_responses(400, 401, 403, 422, 503))
    def checks_batch(req: BatchRequest,
                     who: Annotated[apikeys.Caller, Depends(caller("check"))]) -> Response:
        """Up to 1,000 subjects in one answer, with one log position for all of them."""
        questions = [question(q, f"subjects[{i}]: ") for i, q in enumerate(req.subjects)]
        results, pos = answer(who, questions)
        return _json({"results": results, "position": pos})

    @app.get("/v1/check", response_model=CheckAnswer, deprecated=True,
             dependencies=[Depends(only_query("id_number", "measure", "at"))],
             responses=problem_responses(400, 401, 403, 422, 503))
    def check(
        who: Annotated[apikeys.Caller, Depends(caller("check"))],
        id_number: Annotated[str, Query(pattern=ID_PATTERN, examples=ID_FIELD["examples"],
                                        json_schema_extra={"format": ID_FORMAT},
                                        description="deprecated: the number lands in access logs; "
                                                    "use POST /v1/checks")],
        measure: Annotated[MeasureCode | None, Query(description="measure code of the act")] = None,
        at: Annotated[Moment | None, Query(description="moment of valid time (ISO 8601 with offset)")] = None,
    ) -> Response:
        """Deprecated (one release): the question in the URL. Use POST /v1/checks."""
        [one], pos = answer(who, [screening.subject(id_number, measure, at, unit)])
        return _json({**one, "position": pos})

    @app.get("/v1/listings/{listing_id}", responses=problem_responses(401, 403, 404, 503))
    def get_listing(listing_id: str,
                    who: Annotated[apikeys.Caller, Depends(caller("listings"))]) -> dict[str, Any]:
        """A listing as the unit holds it, non-public ones included (they bind the unit:
        policy 三(一)); ID numbers masked unless the key has the `clear-ids` scope."""
        found = cursor_call(screening.listing, listing_id)
        if found is None:
            raise HTTPException(404, f"unknown listing {listing_id!r}")
        return _masked(found, who.may("clear-ids"))  # type: ignore[no-any-return]

    @app.get("/metrics", response_class=Response, responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}},
              "description": "Prometheus text format"}, **problem_responses(401, 403, 503)})
    def metrics_endpoint(_who: Annotated[apikeys.Caller, Depends(caller("metrics"))]) -> Response:
        body, content_type = cursor_call(metrics.render)
        return Response(body, media_type=content_type)

    app.state.recorder = recorder
    return app


def serve(s: Settings, unit: str, host: str, port: int, *, tls_cert: str | None = None,
          tls_key: str | None = None, tls_client_ca: str | None = None,
          tls_client_scope: str = "check") -> None:
    import ssl

    import uvicorn

    from consumers.agency.api_tls import ClientCertProtocol

    options: dict[str, Any] = {}
    if tls_cert:
        options.update(ssl_certfile=tls_cert, ssl_keyfile=tls_key)
    if tls_client_ca:
        options.update(ssl_ca_certs=tls_client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED,
                       http=ClientCertProtocol)
    app = create_app(s, unit, tls_client_scope=tls_client_scope if tls_client_ca else None)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=30, **options)

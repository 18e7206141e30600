"""`hub court public-serve`: the public query page (policy 三(一): published for the public
to query free of charge; 四(二)7: anyone may query in real time and use it reasonably, not
for profit). Plain, accessible HTML that works without JavaScript, and the JSON endpoint
behind it; only current public listings (`producers.court.public`), ID numbers masked.

Questions are POSTed (form or JSON), so ID numbers stay out of URLs and access logs. Each
client address has a token bucket (`HUB_PUBLIC_RATE_PER_MINUTE`): past it, 429 with
Retry-After."""

from __future__ import annotations

import html
import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from hub import db
from hub.config import Settings
from hub.domain.deadlines import local_date
from hub.errors import InputError, ServiceUnavailable
from hub.log import get_logger
from producers.court import public, store

log = get_logger("hub.court.public")

TERMS_ZH = ("本平台依法公開失信被執行人名單,供公眾免費查詢(三(一))。查詢結果可合理利用,"
            "但不得用於營利活動,不得違反有關法律法規和社會公共道德(四(二)7)。"
            "轉載者對已屏蔽、撤銷的名單信息,應當在三個工作日內予以刪除。")
TERMS_EN = ("Published by law for anyone to query free of charge (policy 三(一)). The results may be "
            "used reasonably, never for profit, nor against the law or public morals (四(二)7). "
            "Whoever republishes them must delete a shielded or revoked listing within three "
            "working days.")
MAX_NAME = 100


class RateLimiter:
    """A token bucket per client address: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_for(self, client: str) -> float:
        """0 when the request may go on (a token taken), else seconds until one is there."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[client] = (tokens - 1, now)
                if len(self._buckets) > 100_000:  # forget the idle, keep memory bounded
                    self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate


def question(id_number: str | None, name: str | None) -> tuple[str | None, str | None]:
    """(id_number, name): exactly one, checked; InputError naming the problem."""
    from hub.domain.identity import IdentityError, check_resident_id, check_uscc

    id_number = (id_number or "").strip() or None
    name = (name or "").strip() or None
    if bool(id_number) == bool(name):
        raise InputError("give a name or an ID number (one of them)")
    if name is not None:
        if len(name) > MAX_NAME:
            raise InputError(f"a name has at most {MAX_NAME} characters")
        return None, name
    assert id_number is not None  # noqa: S101 - narrowed above
    try:
        return check_resident_id(id_number), None
    except IdentityError as person:
        try:
            return check_uscc(id_number), None
        except IdentityError as org:
            raise InputError(str(person if id_number[:17].isdigit() else org)) from None


def _page(body: str, status: int = 200) -> HTMLResponse:
    doc = f"""<!doctype html>
<html lang="zh-Hant">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>失信被執行人名單公開查詢 — public query of the dishonest judgment debtor list</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;line-height:1.5}}
table{{border-collapse:collapse;width:100%}}th,td{{border:1px solid #666;padding:.3rem;text-align:left}}
label{{display:block;margin-top:.5rem}}input{{font-size:1rem;padding:.3rem;width:20rem;max-width:100%}}
button{{font-size:1rem;margin-top:.8rem;padding:.3rem 1rem}}.terms{{font-size:.9rem;color:#333}}</style>
</head>
<body>
<header><h1>失信被執行人名單公開查詢<br><small lang="en">Public query of the dishonest judgment debtor list</small></h1></header>
<main>
<form method="post" action="/search" aria-describedby="how">
<p id="how">輸入被執行人的名稱或身份證號碼/統一社會信用代碼(其一)。<span lang="en">Enter the debtor's name, or the
ID number or unified social credit code (one of them).</span></p>
<label for="name">名稱 <span lang="en">Name</span></label>
<input id="name" name="name" type="search" maxlength="{MAX_NAME}" autocomplete="off">
<label for="id_number">身份證號碼或統一社會信用代碼 <span lang="en">ID number or USCC</span></label>
<input id="id_number" name="id_number" type="search" maxlength="18" autocomplete="off" inputmode="latin">
<button type="submit">查詢 <span lang="en">Search</span></button>
</form>
{body}
</main>
<footer><p class="terms">{html.escape(TERMS_ZH)}</p><p class="terms" lang="en">{html.escape(TERMS_EN)}</p></footer>
</body></html>"""
    return HTMLResponse(doc, status_code=status)


_COLUMNS = (("listing_id", "名單編號", "Listing"), ("name", "被執行人", "Debtor"),
            ("id_number", "證號(部分遮蔽)", "ID number (masked)"), ("court_name", "執行法院", "Court"),
            ("case_no", "案號", "Case"), ("obligation", "生效法律文書確定的義務", "Obligation"),
            ("ground", "失信情形", "Ground"), ("listed_at", "納入日期", "Listed"),
            ("period_end", "納入期限", "Until"))


def _cell(value: Any) -> str:
    """A value as the page shows it: a moment as its date in China Standard Time."""
    if isinstance(value, datetime):
        value = local_date(value)
    return html.escape(str(value if value is not None else ""))


def _results(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ('<section aria-live="polite"><h2>查詢結果 <span lang="en">Results</span></h2>'
                '<p role="status">沒有符合的公開名單。<span lang="en">No public listing matches.</span></p></section>')
    head = "".join(f'<th scope="col">{zh}<br><span lang="en">{en}</span></th>' for _k, zh, en in _COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(k))}</td>" for k, _zh, _en in _COLUMNS)
                   + "</tr>" for r in rows)
    return (f'<section aria-live="polite"><h2>查詢結果 <span lang="en">Results</span></h2>'
            f'<p role="status">{len(rows)} 條公開名單 <span lang="en">public listing(s)</span></p>'
            f'<table><caption>失信被執行人(公開名單) <span lang="en">Public listings</span></caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>")


def create_app(s: Settings, per_minute: int | None = None) -> FastAPI:
    app = FastAPI(title="credit-hub public query", version="1", docs_url=None, redoc_url=None,
                  description="Current public listings only (policy 三(一), 四(二)7); ID numbers masked.")
    limiter = RateLimiter(per_minute or s.public_rate_per_minute)
    local = threading.local()
    sch = store.schema(s)

    def search(id_number: str | None, name: str | None) -> list[dict[str, Any]]:
        for attempt in (1, 2):
            conn = getattr(local, "conn", None)
            try:
                if conn is None or conn.closed:
                    conn = local.conn = store.open_store(s, "hub-public-web")
                    conn.autocommit = True
                with conn.cursor() as cur:
                    return public.query_with(cur, sch, id_number=id_number, name=name)
            except Exception as e:
                if db.is_disconnect(e) and attempt == 1:
                    local.conn = None
                    continue
                raise
        raise ServiceUnavailable("PostgreSQL", db.address(s.pg_dsn), "unavailable")  # pragma: no cover

    @app.middleware("http")
    async def rate_limit(request: Request, call_next: Any) -> Response:
        client = request.client.host if request.client else "?"
        if request.url.path != "/healthz":
            wait = limiter.wait_for(client)
            if wait > 0:
                return JSONResponse({"error": "too many queries from this address; try again later"},
                                    status_code=429, headers={"Retry-After": str(int(wait) + 1)})
        response: Response = await call_next(request)
        log.info("request", method=request.method, path=request.url.path, status=response.status_code)
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return _page("")

    @app.post("/search", response_class=HTMLResponse)
    async def search_page(request: Request) -> HTMLResponse:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        try:
            idn, name = question(form.get("id_number", [""])[0], form.get("name", [""])[0])
        except InputError as e:
            return _page(f'<p role="alert">{html.escape(str(e))}</p>', status=422)
        return _page(_results(search(idn, name)))

    @app.post("/api/v1/search")
    async def search_json(request: Request) -> Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise InputError("send a JSON object: {\"name\": …} or {\"id_number\": …}")
            idn, name = question(body.get("id_number"), body.get("name"))
        except (InputError, ValueError) as e:
            return JSONResponse({"error": str(e)}, status_code=422)
        return Response(orjson.dumps({"listings": search(idn, name), "terms": TERMS_EN,
                                      "terms_zh": TERMS_ZH}), media_type="application/json")

    return app


def serve(s: Settings, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(create_app(s), host=host, port=port, log_level="warning", access_log=False)

"""Republishing sites (policy 四(二)7): whoever republishes the list must delete a listing
that was shielded or revoked within 3 working days.

- `add_site` registers a site and makes its signing key (`republisher:<site>`); the key is
  the site's: it signs its own confirmations.
- `notify` finds the court events that ended a public listing (a shield or revoke of a
  public listing, a correction that made it non-public) recorded since each site was
  registered, and issues one `DeletionNotice` per (site, event), signed by the court
  (`notice_id` = UUID5 of `site/event_id`: issuing twice yields the same notice). The court
  relay runs it after each publish; `hub court republishers notify` runs it on demand.
- `confirm` records the site's `DeletionConfirmed`, signed with the site's key.
- Both are written to the court store first and then published on
  `court.republication.v1` (key: the site), marked sent once the broker has them: a
  crash between the two publishes a record again, never loses one; readers deduplicate on
  `notice_id`.

The auditor (`consumers.audit.republication`) assesses every notice against the limit from
the day the listing stopped being public (`deadlines.RULES["republish_delete"]`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from hub import codec, db, kafka
from hub.config import Settings
from hub.domain import deadlines
from hub.domain.events import (
    DeletionConfirmed,
    DeletionNotice,
    DeletionReason,
    deletion_notice_id,
)
from hub.domain.listing import ListingState, Status, apply
from hub.errors import InputError
from hub.keys import court_signer, ensure_key, load_signing_key, republisher_signer
from hub.ledger import SIG_HEADER, SIGNER_HEADER, SigningKey
from hub.log import get_logger
from producers.court.store import open_store, schema

log = get_logger("hub.court")

SITE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SCAN_LIMIT = 2000  # court events looked at per site and round


def _site(site: str) -> str:
    if not SITE_RE.match(site):
        raise InputError(f"--site: {site!r} is not a site slug (lower-case letters, digits, '-')")
    return site


def add_site(s: Settings, site: str, name: str, url: str | None = None,
             at: datetime | None = None) -> dict[str, Any]:
    """Register a site (idempotent: an existing site keeps its registration time)."""
    _site(site)
    if not name.strip():
        raise InputError("--name: must not be blank")
    key, created = ensure_key(s, republisher_signer(site))
    kafka.ensure_topics(s, kafka.specs_for(s, [s.republication_topic]))  # the relay writes it
    conn = open_store(s, "hub-court-republishers")
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(
                f"INSERT INTO {schema(s)}.republishers (site, name, url, registered_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (site) DO UPDATE"
                " SET name = EXCLUDED.name, url = EXCLUDED.url"
                " RETURNING registered_at, xmax = 0",
                (site, name.strip(), url, at or datetime.now(UTC)))
            registered_at, new = uow.cursor.fetchone()
            uow.commit()
    finally:
        conn.close()
    return {"site": site, "name": name.strip(), "url": url, "registered_at": registered_at,
            "added": bool(new), "signer": key.signer, "key_created": created,
            "public_key": key.public_bytes().hex()}


def list_sites(s: Settings, at: datetime | None = None) -> list[dict[str, Any]]:
    """Each site with its notices counted: confirmed, open, open past their last day."""
    today = deadlines.local_date(at or datetime.now(UTC))
    conn = open_store(s, "hub-court-republishers")
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(
                f"SELECT r.site, r.name, r.url, r.registered_at, count(n.notice_id),"
                " count(n.confirmed_at), count(n.notice_id) - count(n.confirmed_at),"
                " count(*) FILTER (WHERE n.confirmed_at IS NULL AND n.due_on < %s),"
                " count(*) FILTER (WHERE n.deleted_at::date > n.due_on)"
                f" FROM {schema(s)}.republishers r"
                f" LEFT JOIN {schema(s)}.deletion_notices n ON n.site = r.site"
                " GROUP BY r.site ORDER BY r.site", (today,))
            rows = uow.cursor.fetchall()
    finally:
        conn.close()
    return [{"site": site, "name": name, "url": url, "registered_at": reg, "notices": int(n),
             "confirmed": int(c), "open": int(o), "overdue": int(od), "late": int(late)}
            for site, name, url, reg, n, c, o, od, late in rows]


# ------------------------------------------------------------------------------ notices


def _visible(state: ListingState | None) -> bool:
    """Shown on the public platform, so possibly republished: public and listed."""
    return state is not None and bool(state.public) and state.status is Status.listed


def _reason(before: ListingState | None, after: ListingState) -> DeletionReason | None:
    if not _visible(before) or _visible(after):
        return None
    if after.status is Status.revoked:
        return DeletionReason.revoked
    if after.status is Status.shielded:
        return DeletionReason.shielded
    return DeletionReason.made_non_public


def _ended_publicity(cur: Any, sch: str, listing_ids: Iterable[str]) -> dict[str, DeletionReason]:
    """event_id -> reason, for the events of these listings that ended their publicity
    (each listing folded from its events, as every reader of the log does)."""
    cur.execute(
        f"SELECT d.listing_id, o.event_id, o.value FROM {sch}.decisions d"
        f" JOIN {sch}.outbox o ON o.court_code = d.court_code AND o.court_seq = d.court_seq"
        " WHERE d.listing_id = ANY(%s) ORDER BY d.listing_id, d.court_seq",
        (sorted(set(listing_ids)),))
    ended: dict[str, DeletionReason] = {}
    state: ListingState | None = None
    current = None
    for listing_id, event_id, value in cur.fetchall():
        if listing_id != current:
            current, state = listing_id, None
        after = apply(state, codec.decode(bytes(value)))  # type: ignore[arg-type]
        reason = _reason(state, after)
        if reason is not None:
            ended[event_id] = reason
        state = after
    return ended


def issue_notices(cur: Any, s: Settings, now: datetime | None = None) -> int:
    """Record the notices due (in the caller's transaction); returns how many were new."""
    sch = schema(s)
    now = now or datetime.now(UTC)
    keys: dict[str, SigningKey] = {}
    issued = 0
    while True:
        cur.execute(
            f"SELECT r.site, d.court_code, d.listing_id, d.event_id, d.decision_no, d.decided_at"
            f" FROM {sch}.republishers r JOIN {sch}.decisions d"
            " ON d.recorded_at >= r.registered_at AND d.action IN ('shield', 'revoke', 'correct')"
            f" WHERE NOT EXISTS (SELECT 1 FROM {sch}.republish_scanned x"
            "   WHERE x.site = r.site AND x.event_id = d.event_id)"
            " ORDER BY d.recorded_at, d.court_code, d.court_seq LIMIT %s", (SCAN_LIMIT,))
        candidates = cur.fetchall()
        if not candidates:
            return issued
        ended = _ended_publicity(cur, sch, (c[2] for c in candidates))
        for site, code, listing_id, event_id, decision_no, decided_at in candidates:
            reason = ended.get(event_id)
            if reason is None:
                continue
            due = deadlines.deadline_for("republish_delete", deadlines.local_date(decided_at)).due
            notice = DeletionNotice(
                notice_id=deletion_notice_id(site, event_id), site=site, court_code=code,
                listing_id=listing_id, event_id=event_id, decision_no=decision_no,
                reason=reason, stopped_at=decided_at, due_on=due.isoformat(), issued_at=now)
            key = keys.get(code) or keys.setdefault(code, ensure_key(s, court_signer(code))[0])
            value = codec.encode(notice)
            signature = key.sign(value)
            cur.execute(
                f"INSERT INTO {sch}.deletion_notices (notice_id, site, court_code, listing_id,"
                " event_id, decision_no, reason, stopped_at, due_on, issued_at, value, signature)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (notice_id) DO NOTHING",
                (notice.notice_id, site, code, listing_id, event_id, decision_no, reason.value,
                 decided_at, due, now, value, signature))
            issued += cur.rowcount
        cur.execute(
            f"INSERT INTO {sch}.republish_scanned (site, event_id)"
            " SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT DO NOTHING",
            ([c[0] for c in candidates], [c[3] for c in candidates]))


def _headers(signer: str, signature: bytes) -> list[tuple[str, bytes]]:
    return [(SIG_HEADER, bytes(signature)), (SIGNER_HEADER, signer.encode("ascii"))]


def publish_pending(conn: db.Connection, s: Settings, producer: Any) -> int:
    """Publish the notices and confirmations not yet on the topic; mark them sent."""
    sch = schema(s)
    with db.unit_of_work(conn) as uow:
        cur = uow.cursor
        cur.execute(
            f"SELECT 'n', notice_id, site, court_code, value, signature FROM {sch}.deletion_notices"
            " WHERE sent_at IS NULL UNION ALL"
            " SELECT 'c', notice_id, site, court_code, confirmation, confirmation_signature"
            f" FROM {sch}.deletion_notices WHERE confirmed_at IS NOT NULL"
            " AND confirmation_sent_at IS NULL ORDER BY 1 DESC, 2")
        rows = cur.fetchall()
    if not rows:
        return 0
    futures = []
    for kind, _notice_id, site, code, value, signature in rows:
        signer = court_signer(code) if kind == "n" else republisher_signer(site)
        futures.append(producer.send(s.republication_topic, key=site.encode(),
                                     value=bytes(value), headers=_headers(signer, signature)))
    producer.flush(timeout=30)
    for f in futures:
        f.get(timeout=30)  # raises if the broker refused one: nothing is marked
    with db.unit_of_work(conn) as uow:
        cur = uow.cursor
        notices = [r[1] for r in rows if r[0] == "n"]
        confirmations = [r[1] for r in rows if r[0] == "c"]
        cur.execute(f"UPDATE {sch}.deletion_notices SET sent_at = now()"
                    " WHERE notice_id = ANY(%s)", (notices,))
        cur.execute(f"UPDATE {sch}.deletion_notices SET confirmation_sent_at = now()"
                    " WHERE notice_id = ANY(%s)", (confirmations,))
        uow.commit()
    return len(rows)


def notify_with(conn: db.Connection, s: Settings, producer: Any) -> dict[str, int]:
    """Issue the notices due and publish what is pending (the court relay's round)."""
    with db.unit_of_work(conn) as uow:
        # one round trip when no site is registered (every relay round and submit asks)
        uow.cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {schema(s)}.republishers)")
        if not uow.cursor.fetchone()[0]:
            return {"issued": 0, "published": 0}
        issued = issue_notices(uow.cursor, s)
        uow.commit()
    published = publish_pending(conn, s, producer)
    if issued:
        log.info("deletion notices issued", notices=issued)
    return {"issued": issued, "published": published}


def _with_producer(s: Settings, job: Any) -> Any:
    kafka.ensure_topics(s, kafka.specs_for(s, [s.republication_topic]))
    conn = open_store(s, "hub-court-republishers")
    producer = kafka.producer(s, client_id="hub-court-republish")
    try:
        return job(conn, producer)
    finally:
        producer.close(timeout=10)
        conn.close()


def notify(s: Settings) -> dict[str, int]:
    return _with_producer(s, lambda conn, producer: notify_with(conn, s, producer))  # type: ignore[no-any-return]


def notices(s: Settings, site: str, pending_only: bool = False) -> list[dict[str, Any]]:
    """The notices of a site, oldest first (what the site has to delete)."""
    _site(site)
    conn = open_store(s, "hub-court-republishers")
    try:
        with db.unit_of_work(conn) as uow:
            cur = uow.cursor
            _known_site(cur, s, site)
            cur.execute(
                "SELECT notice_id, listing_id, court_code, decision_no, reason, stopped_at,"
                f" due_on, issued_at, deleted_at, confirmed_at FROM {schema(s)}.deletion_notices"
                " WHERE site = %s AND (NOT %s OR confirmed_at IS NULL)"
                " ORDER BY issued_at, notice_id", (site, pending_only))
            rows = cur.fetchall()
    finally:
        conn.close()
    cols = ["notice_id", "listing_id", "court_code", "decision_no", "reason", "stopped_at",
            "due_on", "issued_at", "deleted_at", "confirmed_at"]
    return [dict(zip(cols, r, strict=True)) for r in rows]


def _known_site(cur: Any, s: Settings, site: str) -> None:
    cur.execute(f"SELECT 1 FROM {schema(s)}.republishers WHERE site = %s", (site,))
    if cur.fetchone() is None:
        raise InputError(f"--site: no republishing site {site!r} (hub court republishers add)")


def confirm(s: Settings, site: str, notice_ids: Iterable[str] = (), listing_id: str | None = None,
            deleted_at: datetime | None = None) -> dict[str, Any]:
    """Record and publish the site's signed confirmations of the notices named (or all open
    notices of `listing_id`). Nothing is recorded if any of them is wrong."""
    _site(site)
    key = load_signing_key(s, republisher_signer(site))
    if key is None:
        raise InputError(f"--site: no signing key for {republisher_signer(site)} in the keys"
                         " directory: the site signs its own confirmations")
    now = datetime.now(UTC)
    deleted_at = deleted_at or now
    if deleted_at.tzinfo is None:
        raise InputError("--deleted-at: give a time zone (e.g. +08:00)")
    if deleted_at > now:
        raise InputError(f"--deleted-at: {deleted_at.isoformat()} is in the future")
    ids = list(dict.fromkeys(notice_ids))
    if not ids and listing_id is None:
        raise InputError("name the notices (--notice) or the listing (--listing) to confirm")

    def job(conn: db.Connection, producer: Any) -> dict[str, Any]:
        sch = schema(s)
        with db.unit_of_work(conn) as uow:
            cur = uow.cursor
            _known_site(cur, s, site)
            cur.execute(
                "SELECT notice_id, site, listing_id, stopped_at, confirmed_at"
                f" FROM {sch}.deletion_notices WHERE notice_id = ANY(%s)"
                " OR (site = %s AND listing_id = %s AND confirmed_at IS NULL)"
                " ORDER BY notice_id FOR UPDATE", (ids, site, listing_id))
            found = {r[0]: r for r in cur.fetchall()}
            missing = [i for i in ids if i not in found]
            if missing:
                raise InputError(f"--notice: no deletion notice {missing[0]}")
            if not found:
                raise InputError(f"--listing: site {site!r} has no open deletion notice"
                                 f" of listing {listing_id!r}")
            done, already = [], []
            for notice_id, owner, listing, stopped_at, confirmed_at in found.values():
                if owner != site:
                    raise InputError(f"--notice: {notice_id} was sent to site {owner!r},"
                                     f" not {site!r}")
                if deleted_at < stopped_at:
                    raise InputError(
                        f"--deleted-at: {deleted_at.isoformat()} is before listing {listing}"
                        f" stopped being public ({stopped_at.isoformat()})")
                if confirmed_at is not None:
                    already.append(notice_id)
                    continue
                record = DeletionConfirmed(notice_id=notice_id, site=site, listing_id=listing,
                                           deleted_at=deleted_at, confirmed_at=now)
                value = codec.encode(record)
                signature = key.sign(value)
                cur.execute(
                    f"UPDATE {sch}.deletion_notices SET deleted_at = %s, confirmed_at = %s,"
                    " confirmation = %s, confirmation_signature = %s WHERE notice_id = %s",
                    (deleted_at, now, value, signature, notice_id))
                done.append(notice_id)
            uow.commit()
        publish_pending(conn, s, producer)
        return {"site": site, "confirmed": done, "already_confirmed": already,
                "deleted_at": deleted_at}

    return _with_producer(s, job)  # type: ignore[no-any-return]

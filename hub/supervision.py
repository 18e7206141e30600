"""Supervision of the punishment units, as signed records on `supervision.v1` (key: the unit):
- the supervising body (全市執行聯動機制工作領導小組, signer `supervisor:<body>`) records its
  formal notices (通報) and talks (約談) of a unit (policy 四(四));
- a unit (signer `unit:<slug>`) records the complaints it receives (投訴舉報) and its answers:
  unfounded, or it should have acted, in which case it punishes first and then answers
  (policy 四(二)8); and its credit repair decisions (信用修復, 四(二)6;
  `consumers.agency.repairs`, through the unit's outbox).

The log is the store: a new record is checked against the believed records already on the
topic (`SupervisionLog`), then published and acknowledged by the broker (acks=all) before
the command reports it. A record's id names its document (`supervision_id(owner, ref)`), so
recording the same document again is a no-op and the same number with other content is an
error. The auditor folds the same class (`consumers.audit.supervision`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from kafka import TopicPartition
from pydantic import BaseModel

from hub import codec, kafka
from hub.config import SLUG_RE, Settings
from hub.domain.catalogue import default_catalogue
from hub.domain.deadlines import local_date
from hub.domain.events import (
    ComplaintAnswered,
    ComplaintFinding,
    ComplaintReceived,
    CreditRepairDecided,
    FormalNotice,
    FormalTalk,
    supervision_id,
)
from hub.errors import InputError
from hub.keys import ensure_key, load_trust, supervisor_signer, unit_signer
from hub.ledger import LedgerError
from hub.log import get_logger
from hub.signed import sign, verify_record

log = get_logger("hub.supervision")

DEFAULT_BODY = "leading-group"  # 全市執行聯動機制工作領導小組
# An ID number in free text (a complaint's `about` must not carry the reporter's or anyone's)
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])|"
                         r"(?<![0-9A-Za-z])[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}"
                         r"(?![0-9A-Za-z])")


def _content(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude={"recorded_at"})


@dataclass
class SupervisionLog:
    notices: dict[str, FormalNotice] = field(default_factory=dict)
    talks: dict[str, FormalTalk] = field(default_factory=dict)
    complaints: dict[str, ComplaintReceived] = field(default_factory=dict)
    answers: dict[str, ComplaintAnswered] = field(default_factory=dict)
    repairs: dict[str, CreditRepairDecided] = field(default_factory=dict)

    def add(self, model: Any) -> None:
        """A believed record, in log order (the first of an id counts)."""
        if isinstance(model, FormalNotice):
            self.notices.setdefault(model.notice_id, model)
        elif isinstance(model, FormalTalk):
            self.talks.setdefault(model.talk_id, model)
        elif isinstance(model, ComplaintReceived):
            self.complaints.setdefault(model.complaint_id, model)
        elif isinstance(model, CreditRepairDecided):
            self.repairs.setdefault(model.repair_id, model)
        elif isinstance(model, ComplaintAnswered):
            c = self.complaints.get(model.complaint_id)
            if c is not None and c.unit == model.unit:  # an answer to nothing is not one
                self.answers.setdefault(model.complaint_id, model)

    # ----------------------------------------------------------------- new records
    def known(self, model: BaseModel, existing: BaseModel | None, ref: str) -> bool:
        """True if the document is already recorded with the same content."""
        if existing is None:
            return False
        if _content(existing) != _content(model):
            raise InputError(f"--ref: {ref!r} is already recorded with other content")
        return True

    def check_answer(self, a: ComplaintAnswered, ref: str) -> None:
        c = self.complaints.get(a.complaint_id)
        if c is None or c.unit != a.unit:
            raise InputError(f"--ref: unit {a.unit!r} has no complaint {ref!r}"
                             " (hub agency complaints receive)")
        if a.finding is ComplaintFinding.should_have_acted and a.acted_on is None:
            raise InputError("--acted-on: a unit that should have acted punishes first, then"
                             " answers (policy 四(二)8): give the day it acted")
        if a.finding is ComplaintFinding.unfounded and a.acted_on is not None:
            raise InputError("--acted-on: only for the finding should_have_acted")
        if a.acted_on is not None and a.acted_on < c.received_on:
            raise InputError(f"--acted-on: {a.acted_on.isoformat()} is before the complaint was"
                             f" received ({c.received_on.isoformat()})")
        if a.answered_on < c.received_on:
            raise InputError(f"--on: {a.answered_on.isoformat()} is before the complaint was"
                             f" received ({c.received_on.isoformat()})")
        if a.acted_on is not None and a.answered_on < a.acted_on:
            raise InputError("--on: the answer comes after the punishment (--acted-on)")


def _topic_records(s: Settings) -> Iterator[Any]:
    """Believed models of the supervision topic, in partition order."""
    trust = load_trust(s)
    c = kafka.consumer(s, client_id="hub-supervision", group_id=None)
    try:
        tps = [TopicPartition(s.supervision_topic, p)
               for p in sorted(c.partitions_for_topic(s.supervision_topic) or ())]
        if not tps:
            return
        c.assign(tps)
        end = c.end_offsets(tps)
        c.seek_to_beginning(*tps)
        todo = {tp for tp in tps if c.position(tp) < end[tp]}
        while todo:
            for tp, records in c.poll(timeout_ms=1000).items():
                for r in records:
                    if r.offset >= end[tp]:
                        continue
                    try:
                        yield verify_record(trust, r.value, r.headers).model
                    except (LedgerError, codec.CodecError) as e:
                        log.warning("record skipped", topic=r.topic, partition=r.partition,
                                    offset=r.offset, reason=str(e))
            todo = {tp for tp in todo if c.position(tp) < end[tp]}
    except kafka.UNAVAILABLE as e:
        raise kafka.unavailable(s, e) from e
    finally:
        c.close()


def read(s: Settings) -> SupervisionLog:
    out = SupervisionLog()
    for model in _topic_records(s):
        out.add(model)
    return out


def _publish(s: Settings, signer: str, unit: str, model: BaseModel) -> None:
    key, _ = ensure_key(s, signer)
    value = codec.encode(model)
    kafka.ensure_topics(s, kafka.specs_for(s, [s.supervision_topic]))
    producer = kafka.producer(s, client_id="hub-supervision")
    try:
        producer.send(s.supervision_topic, key=unit.encode(), value=value,
                      headers=sign(key, value)).get(timeout=30)
    except kafka.UNAVAILABLE as e:
        raise kafka.unavailable(s, e) from e
    finally:
        producer.close(timeout=10)


# ----------------------------------------------------------------------- arguments


def _unit(unit: str) -> str:
    if not SLUG_RE.match(unit) or unit not in default_catalogue().units:
        raise InputError(f"--unit: {unit!r} is not a unit of the catalogue (hub catalogue units)")
    return unit


def _body(body: str) -> str:
    if not SLUG_RE.match(body):
        raise InputError(f"--body: {body!r} is not a slug (lower-case letters, digits, '-')")
    return body


def _text(name: str, value: str) -> str:
    if not value.strip():
        raise InputError(f"--{name}: must not be blank")
    return value.strip()


def _day(name: str, value: date | None, today: date) -> date:
    day = value or today
    if day > today:
        raise InputError(f"--{name}: {day.isoformat()} is in the future")
    return day


def _result(model: BaseModel, recorded: bool) -> dict[str, Any]:
    return {"recorded": recorded, **model.model_dump(mode="json")}


# ------------------------------------------------------------------------ commands


def record_notice(s: Settings, unit: str, ref: str, reason: str, event_ids: list[str],
                  on: date | None = None, body: str = DEFAULT_BODY) -> dict[str, Any]:
    """Record a formal notice (通報) of `unit` by the supervising body."""
    now = datetime.now(UTC)
    body, unit, ref = _body(body), _unit(unit), _text("ref", ref)
    notice = FormalNotice(notice_id=supervision_id(body, ref), body=body, ref=ref, unit=unit,
                          reason=_text("reason", reason), event_ids=list(dict.fromkeys(event_ids)),
                          issued_on=_day("on", on, local_date(now)), recorded_at=now)
    current = read(s)
    if current.known(notice, current.notices.get(notice.notice_id), ref):
        return _result(current.notices[notice.notice_id], False)
    _publish(s, supervisor_signer(body), unit, notice)
    return _result(notice, True)


def record_talk(s: Settings, unit: str, ref: str, reason: str, on: date | None = None,
                body: str = DEFAULT_BODY) -> dict[str, Any]:
    """Record a formal talk (約談) with `unit`."""
    now = datetime.now(UTC)
    body, unit, ref = _body(body), _unit(unit), _text("ref", ref)
    talk = FormalTalk(talk_id=supervision_id(body, ref), body=body, ref=ref, unit=unit,
                      reason=_text("reason", reason), held_on=_day("on", on, local_date(now)),
                      recorded_at=now)
    current = read(s)
    if current.known(talk, current.talks.get(talk.talk_id), ref):
        return _result(current.talks[talk.talk_id], False)
    _publish(s, supervisor_signer(body), unit, talk)
    return _result(talk, True)


def receive_complaint(s: Settings, unit: str, ref: str, about: str,
                      listing_id: str | None = None, on: date | None = None) -> dict[str, Any]:
    """A complaint received by `unit`, signed by the unit."""
    now = datetime.now(UTC)
    unit, ref, about = _unit(unit), _text("ref", ref), _text("about", about)
    if _ID_IN_TEXT.search(about):
        raise InputError("--about: carries what looks like an ID number; describe the complaint"
                         " without it (the listing is named by --listing)")
    complaint = ComplaintReceived(complaint_id=supervision_id(unit, ref), unit=unit, ref=ref,
                                  listing_id=listing_id, about=about,
                                  received_on=_day("on", on, local_date(now)), recorded_at=now)
    current = read(s)
    if current.known(complaint, current.complaints.get(complaint.complaint_id), ref):
        return _result(current.complaints[complaint.complaint_id], False)
    _publish(s, unit_signer(unit), unit, complaint)
    return _result(complaint, True)


def answer_complaint(s: Settings, unit: str, ref: str, finding: str,
                     acted_on: date | None = None, on: date | None = None) -> dict[str, Any]:
    """The unit's answer to its complaint `ref`, signed by the unit."""
    now = datetime.now(UTC)
    unit, ref = _unit(unit), _text("ref", ref)
    try:
        kind = ComplaintFinding(finding)
    except ValueError:
        raise InputError(f"--finding: {finding!r}; expected one of"
                         f" {', '.join(f.value for f in ComplaintFinding)}") from None
    today = local_date(now)
    answer = ComplaintAnswered(complaint_id=supervision_id(unit, ref), unit=unit, finding=kind,
                               acted_on=None if acted_on is None else _day("acted-on", acted_on, today),
                               answered_on=_day("on", on, today), recorded_at=now)
    current = read(s)
    if current.known(answer, current.answers.get(answer.complaint_id), ref):
        return _result(current.answers[answer.complaint_id], False)
    current.check_answer(answer, ref)
    _publish(s, unit_signer(unit), unit, answer)
    return _result(answer, True)

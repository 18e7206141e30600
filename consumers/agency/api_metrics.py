"""The screening service's /metrics (prometheus-client, its own registry per app): checks by
decision and a latency histogram, counted as requests are answered; the unit's projection
lag, apply rate, pending acknowledgements, dead letters and unrecorded answers, read when
scraped (one PostgreSQL statement, one Kafka end-offsets request)."""

from __future__ import annotations

import math
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from hub import kafka, outbox
from hub.config import Settings
from hub.log import get_logger

log = get_logger("hub.agency.metrics")

_STATE_SQL = (
    "SELECT (SELECT coalesce(json_agg(json_build_array(topic, partition, next_offset)), '[]')"
    " FROM {schema}.consumer_offsets),"
    " (SELECT count(*) FROM {schema}.outbox o, {schema}.outbox_sent w WHERE " + outbox.UNSENT + "),"
    " (SELECT count(*) FROM {schema}.dead_letters)"
)


class Metrics:
    def __init__(self, s: Settings, unit: str, schema: str) -> None:
        self.s, self.unit, self.schema = s, unit, schema
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.checks = Counter("hub_screening_checks", "Subjects answered, by decision",
                              ["decision"], registry=r)
        self.latency = Histogram("hub_screening_request_seconds", "Time to answer a request",
                                 ["path"], registry=r,
                                 buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                          0.15, 0.25, 0.5, 1.0, 2.5))
        self.lag = Gauge("hub_unit_projection_lag_events",
                         "Court events published but not yet in the projection", registry=r)
        self.position_events = Gauge("hub_unit_position_events",
                                     "Court events the projection has consumed", registry=r)
        self.apply_rate = Gauge("hub_unit_apply_rate_events_per_second",
                                "Events applied per second since the previous scrape", registry=r)
        self.pending_acks = Gauge("hub_unit_pending_acknowledgements",
                                  "Acknowledgements committed but not yet published", registry=r)
        self.dead_letters = Gauge("hub_unit_dead_letters", "Dead-lettered records", registry=r)
        self.unrecorded = Gauge("hub_screening_answers_unrecorded",
                                "Answers buffered, not yet in the query log", registry=r)
        self.recorder: Any = None
        self._consumer: Any = None
        self._last: tuple[float, int] | None = None

    def _ends(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int] | None:
        from kafka import TopicPartition

        try:
            if self._consumer is None:
                self._consumer = kafka.consumer(self.s, client_id=f"hub-metrics-{self.unit}",
                                                group_id=None)
            tps = [TopicPartition(t, p) for t, p in partitions]
            return {(tp.topic, tp.partition): off for tp, off in self._consumer.end_offsets(tps).items()}
        except Exception as e:  # noqa: BLE001 - metrics must answer with the broker down
            log.warning("projection lag unavailable", error=str(e))
            self.close()
            return None

    def render(self, cur: Any, schema: str) -> tuple[bytes, str]:
        cur.execute(_STATE_SQL.format(schema=schema))
        offsets, pending, dead = cur.fetchone()
        stored = {(t, p): o for t, p, o in offsets}
        consumed = sum(stored.values())
        now = time.monotonic()
        if self._last is not None and now > self._last[0]:
            self.apply_rate.set(max(consumed - self._last[1], 0) / (now - self._last[0]))
        self._last = (now, consumed)
        ends = self._ends(list(stored)) if stored else {}
        self.lag.set(math.nan if ends is None else
                     sum(max(ends.get(k, o) - o, 0) for k, o in stored.items()))
        self.position_events.set(consumed)
        self.pending_acks.set(pending)
        self.dead_letters.set(dead)
        self.unrecorded.set(self.recorder.pending if self.recorder is not None else 0)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            finally:
                self._consumer = None

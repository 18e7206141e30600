"""The one Kafka client factory and topic admin.

Every producer, consumer and admin client of the hub is built here, so security settings,
timeouts and error translation live in one place. Driver errors that mean "the broker does
not answer" become `ServiceUnavailable`."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    TopicAlreadyExistsError,
)

from hub.config import Settings
from hub.errors import ServiceUnavailable

# kafka-python 3.x raises KafkaTimeoutError when no bootstrap server answers.
UNAVAILABLE = (KafkaTimeoutError, KafkaConnectionError)
# A wrong user name or password.
AUTH_FAILED = (SaslAuthenticationFailedError,)
INFINITE = "-1"


def probe(s: Settings, timeout: float = 3.0) -> None:
    """Fail fast, with the address, when no bootstrap server accepts a TCP connection
    (kafka-python would only give up after its request timeout)."""
    last: OSError | None = None
    for server in s.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return
        except OSError as e:
            last = e
    raise ServiceUnavailable("Kafka", s.kafka_bootstrap, str(last or "no bootstrap server"))


def common_config(s: Settings, client_id: str) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "bootstrap_servers": s.kafka_bootstrap.split(","),
        "client_id": client_id,
        "security_protocol": s.security_protocol,
        "request_timeout_ms": s.kafka_request_timeout_ms,
    }
    if s.kafka_username:
        cfg["sasl_mechanism"] = s.kafka_sasl_mechanism
        cfg["sasl_plain_username"] = s.kafka_username
        cfg["sasl_plain_password"] = s.kafka_password
    return cfg


def unavailable(s: Settings, e: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable("Kafka", s.kafka_bootstrap, type(e).__name__)


def producer(s: Settings, client_id: str = "hub", **overrides: Any) -> KafkaProducer:
    """Idempotent producer with acks=all: per-partition order and no duplicates on retry."""
    cfg = common_config(s, client_id) | {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_in_flight_requests_per_connection": 5,
    }
    cfg.update(overrides)
    probe(s)
    try:
        return KafkaProducer(**cfg)
    except UNAVAILABLE as e:
        raise unavailable(s, e) from e


def consumer(s: Settings, client_id: str = "hub", group_id: str | None = None,
             **overrides: Any) -> KafkaConsumer:
    """A consumer that never auto-commits: the hub stores its positions itself."""
    cfg = common_config(s, client_id) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_poll_records": 2000,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
    }
    cfg.update(overrides)
    probe(s)
    try:
        return KafkaConsumer(**cfg)
    except UNAVAILABLE as e:
        raise unavailable(s, e) from e


def admin(s: Settings, client_id: str = "hub-admin") -> KafkaAdminClient:
    probe(s)
    try:
        return KafkaAdminClient(**common_config(s, client_id))
    except UNAVAILABLE as e:
        raise unavailable(s, e) from e


@contextmanager
def admin_client(s: Settings) -> Iterator[KafkaAdminClient]:
    client = admin(s)
    try:
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class TopicSpec:
    name: str
    configs: dict[str, str]


def topic_specs(s: Settings, units: Iterable[str] = ()) -> list[TopicSpec]:
    """Explicit configs for every hub topic (design.md "Topics"). The court log and the
    acknowledgements are evidence: kept forever (`retention.ms=-1`)."""
    base = {"min.insync.replicas": str(s.topic_min_insync_replicas), "cleanup.policy": "delete"}
    forever = base | {"retention.ms": INFINITE, "retention.bytes": INFINITE}
    specs = [TopicSpec(s.court_topic, forever), TopicSpec(s.checkpoint_topic, forever),
             TopicSpec(s.republication_topic, forever), TopicSpec(s.supervision_topic, forever)]
    for unit in units:
        specs.append(TopicSpec(s.ack_topic(unit), forever))
        specs.append(TopicSpec(s.dlq_topic(unit), forever))
    return specs


def specs_for(s: Settings, names: Iterable[str], units: Iterable[str] = ()) -> list[TopicSpec]:
    """The specs of these hub topics only: what one account's process may create or must
    see (a unit's account cannot describe the topics it has no grant on)."""
    wanted = set(names)
    return [t for t in topic_specs(s, units) if t.name in wanted]


def ensure_topics(s: Settings, specs: Iterable[TopicSpec], partitions: int | None = None) -> list[str]:
    """Create the missing topics; returns the names created. Idempotent."""
    wanted = list(specs)
    with admin_client(s) as client:
        try:
            existing = set(client.list_topics())
        except UNAVAILABLE as e:
            raise unavailable(s, e) from e
        new = [
            NewTopic(
                name=t.name,
                num_partitions=partitions or s.topic_partitions,
                replication_factor=s.topic_replication_factor,
                topic_configs=t.configs,
            )
            for t in wanted
            if t.name not in existing
        ]
        if new:
            try:
                client.create_topics(new, validate_only=False)
            except TopicAlreadyExistsError:
                pass  # a concurrent creator won the race: same topic, same configs
    return [t.name for t in new]


def end_offsets(s: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    c = consumer(s, client_id="hub-offsets")
    try:
        parts = [
            TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t) or ())
        ]
        return dict(c.end_offsets(parts)) if parts else {}
    except UNAVAILABLE as e:
        raise unavailable(s, e) from e
    finally:
        c.close()

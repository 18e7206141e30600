"""`hub status`: whether Kafka and PostgreSQL answer, the broker's version, the hub's topics
with their end offsets, and per unit its consumer lag (from the offsets each unit stores
in its own schema, next to its projection)."""

from __future__ import annotations

import sys
from typing import Any

import click

from hub import db, kafka
from hub.config import Settings, settings
from hub.errors import ServiceUnavailable
from hub.output import format_option, print_json, print_table

HUB_TOPIC_MARKERS = ("court.listings.v1", "court.checkpoints.v1")


def _is_hub_topic(s: Settings, name: str) -> bool:
    if not name.startswith(s.topic_prefix):
        return False
    rest = name[len(s.topic_prefix):]
    return rest in HUB_TOPIC_MARKERS or (
        rest.endswith(".v1") and (rest.startswith("acks.") or rest.startswith("dlq."))
    )


def kafka_status(s: Settings) -> dict[str, Any]:
    out: dict[str, Any] = {"address": s.kafka_bootstrap, "up": False}
    try:
        with kafka.admin_client(s) as client:
            version = client._client.check_version()
            names = sorted(t for t in client.list_topics() if _is_hub_topic(s, t))
            cluster = client.describe_cluster()
        offsets = kafka.end_offsets(s, names)
    except ServiceUnavailable as e:
        out["error"] = str(e)
        return out
    out.update(
        up=True,
        broker_api_version=".".join(str(v) for v in version),
        cluster_id=cluster.get("cluster_id"),
        brokers=len(cluster.get("brokers", [])),
        topics=[
            {
                "topic": t,
                "partitions": {str(tp.partition): off for tp, off in sorted(offsets.items()) if tp.topic == t},
                "end_offset_total": sum(off for tp, off in offsets.items() if tp.topic == t),
            }
            for t in names
        ],
    )
    return out


def postgres_status(s: Settings) -> tuple[dict[str, Any], list[tuple[str, str, int, int]]]:
    out: dict[str, Any] = {"address": db.address(s.pg_dsn), "up": False}
    stored: list[tuple[str, str, int, int]] = []
    try:
        conn = db.connect(s.pg_dsn, "hub-status")
    except ServiceUnavailable as e:
        out["error"] = str(e)
        return out, stored
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute("SHOW server_version")
            out.update(up=True, server_version=uow.cursor.fetchone()[0])
            prefix = s.unit_schema("")
            uow.cursor.execute(
                "SELECT table_schema FROM information_schema.tables"
                " WHERE table_name = 'consumer_offsets' AND table_schema LIKE %s",
                (prefix.replace("_", r"\_") + "%",),
            )
            for (schema,) in uow.cursor.fetchall():
                uow.cursor.execute(
                    f"SELECT topic, partition, next_offset FROM {db.ident(schema)}.consumer_offsets"
                )
                unit = schema[len(prefix):].replace("_", "-")
                stored.extend((unit, t, p, o) for t, p, o in uow.cursor.fetchall())
    finally:
        conn.close()
    return out, stored


def unit_lags(s: Settings, k: dict[str, Any], stored: list[tuple[str, str, int, int]]) -> list[dict[str, Any]]:
    ends = {
        (t["topic"], int(p)): off for t in k.get("topics", []) for p, off in t["partitions"].items()
    }
    units: dict[str, dict[str, Any]] = {}
    for unit, topic, part, nxt in stored:
        u = units.setdefault(unit, {"unit": unit, "lag": 0, "position": 0})
        u["position"] += nxt
        u["lag"] += max(ends.get((topic, part), nxt) - nxt, 0)
    return sorted(units.values(), key=lambda u: u["unit"])


@click.command("status")
@format_option()
def status(fmt: str) -> None:
    """Whether Kafka and PostgreSQL answer, topics with end offsets, unit lag."""
    s = settings()
    k = kafka_status(s)
    p, stored = postgres_status(s)
    units = unit_lags(s, k, stored)
    doc = {"kafka": k, "postgres": p, "units": units}
    if fmt == "json":
        print_json(doc)
    else:
        print_table("services", ["service", "address", "up", "version / error"], [
            ["Kafka", k["address"], k["up"], k.get("broker_api_version") or k.get("error")],
            ["PostgreSQL", p["address"], p["up"], p.get("server_version") or p.get("error")],
        ])
        print_table("topics", ["topic", "partitions", "end offset"], [
            [t["topic"], len(t["partitions"]), t["end_offset_total"]] for t in k.get("topics", [])
        ])
        print_table("units", ["unit", "position", "lag"], [
            [u["unit"], u["position"], u["lag"]] for u in units
        ])
    for svc in (k, p):
        if not svc["up"]:
            click.echo(f"error: {svc['error']}", err=True)
    if not (k["up"] and p["up"]):
        sys.exit(3)

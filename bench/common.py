"""What every benchmark shares: the bare kafka-python consumer baseline and writing a
side's figures to `bench/results/<side>.json` (gathered by bench/run.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kafka import TopicPartition

from hub import kafka
from hub.config import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def bare_consume_rate(s: Settings, topic: str, n: int, max_poll_records: int = 2000) -> float:
    """Records/s of a bare kafka-python consumer (the hub's client settings, no group)
    reading `n` records of `topic` from the beginning."""
    c = kafka.consumer(s, client_id="bench-bare", group_id=None, max_poll_records=max_poll_records)
    parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    got = 0
    start = time.perf_counter()
    while got < n:
        for recs in c.poll(timeout_ms=1000).values():
            got += len(recs)
    elapsed = time.perf_counter() - start
    c.close()
    return got / elapsed


def write_results(side: str, doc: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{side}.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")

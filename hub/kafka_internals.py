"""Every use of kafka-python's private internals goes through here (issue #22).

Two things the hub takes from kafka-python that its public API does not offer:
- writing records straight into the producer's batches (`hub.fastappend`, the court relay's
  publish: ~4x `send`);
- whether a consumer's group membership is stable (`group_stable`: the unit consumer's
  watchdog).
Both were checked against the kafka-python versions in `CHECKED`. On any other version they
are not used: the relay publishes through `send`, the watchdog looks at the assignment only,
and each says so once in the log. `HUB_KAFKA_INTERNALS=off` turns them off on any version."""

from __future__ import annotations

import os
from typing import Any

import kafka

from hub.log import get_logger

log = get_logger("hub.kafka")

# kafka-python releases whose internals fastappend and group_stable were checked against
# (tests/integration/test_fastappend_kafka.py compares fastappend byte for byte with
# kafka-python's own encoder on the installed version).
CHECKED = frozenset({"3.0.10", "3.0.11", "3.0.12"})

_said: set[str] = set()


def _once(what: str, **kw: Any) -> None:
    if what not in _said:
        _said.add(what)
        log.warning(what, **kw)


def checked(version: str | None = None) -> bool:
    """Whether kafka-python's internals may be used (this version was checked, and they are
    not turned off)."""
    version = version or kafka.__version__
    if os.environ.get("HUB_KAFKA_INTERNALS", "").lower() in ("off", "0", "false", "no"):
        _once("kafka-python internals turned off (HUB_KAFKA_INTERNALS)", version=version)
        return False
    if version not in CHECKED:
        _once("kafka-python version not checked against the hub's use of its internals;"
              " using its public API only", version=version, checked=sorted(CHECKED))
        return False
    return True


def group_stable(consumer: Any) -> bool | None:
    """Whether the consumer's group membership is stable; None where that cannot be known
    (an unchecked kafka-python, or a coordinator without `stable()`)."""
    if not checked():
        return None
    coord = getattr(consumer, "_coordinator", None)
    stable = getattr(coord, "stable", None)
    return bool(stable()) if callable(stable) else None

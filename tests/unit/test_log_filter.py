"""kafka-python's slow-step warnings, which measure GIL waits in a busy process, are
dropped; the logger's other warnings are not."""

from __future__ import annotations

import logging

import pytest

from hub import log


def test_slow_step_warnings_are_dropped_others_kept(caplog: pytest.LogCaptureFixture) -> None:
    log.configure(level="INFO")
    selector = logging.getLogger("kafka.net.selector")
    caplog.set_level(logging.WARNING, logger="kafka.net.selector")
    selector.addHandler(caplog.handler)
    try:
        selector.warning("Task %r ran for %.3fs (>%.3fs threshold). It is blocking the event"
                         " loop -- likely a tight sync loop inside a coroutine.", "t", 0.2, 0.1)
        selector.warning("Task %s left RUNNING after step; demoting to UNSCHEDULED", "t")
    finally:
        selector.removeHandler(caplog.handler)
    messages = [r.getMessage() for r in caplog.records if r.name == "kafka.net.selector"]
    assert messages == ["Task t left RUNNING after step; demoting to UNSCHEDULED"]

"""One structlog set-up: JSON lines on stderr in services, a console renderer on a
terminal. A processor masks personal ID numbers (18-character resident IDs and unified
social credit codes) and secrets wherever they appear, so they never reach a log in clear."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# 17 digits + digit/X (resident ID, GB 11643) or an 18-character USCC (GB 32100): any
# 18-character run of digits and capitals that is not part of a longer token.
_ID_RE = re.compile(r"(?<![0-9A-Za-z])([0-9A-Z]{6})[0-9A-Z]{8}([0-9A-Z]{4})(?![0-9A-Za-z])")
_ID_LOWER_X = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[xX])(?![0-9A-Za-z])")
_SECRET_KEYS = ("password", "secret", "private_key", "sasl_plain_password", "dsn")
_DSN_PW = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


# Secret values known to this process (Kafka and PostgreSQL passwords): scrubbed from every
# log line whatever the key or message that carries them (a library may log its config).
_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


def mask_text(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    text = _ID_RE.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _ID_LOWER_X.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    return _DSN_PW.sub(r"\1***@", text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask(v) for v in value)
    return value


def mask_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if any(s in key.lower() for s in _SECRET_KEYS) and key.lower() != "dsn_host":
            event_dict[key] = "***"
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


_configured = False


def configure(level: str | None = None, json: bool | None = None) -> None:
    global _configured
    level = (level or os.environ.get("HUB_LOG_LEVEL") or "INFO").upper()
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if json else (
        structlog.dev.ConsoleRenderer(colors=True)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Library logs (kafka-python, uvicorn) go through the same masking chain.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kafka-python is chatty: warnings only, unless the whole hub runs at DEBUG.
    logging.getLogger("kafka").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    # SCRAM over SASL_PLAINTEXT on the local broker: kafka-python warns on every connection.
    logging.getLogger("kafka.net.sasl").setLevel(logging.ERROR)
    selector = logging.getLogger("kafka.net.selector")
    if not any(isinstance(f, SlowStepFilter) for f in selector.filters):
        selector.addFilter(SlowStepFilter())
    _configured = True


class SlowStepFilter(logging.Filter):
    """Drops kafka-python's "Task … ran for 0.2s (>0.100s threshold). It is blocking the
    event loop" below DEBUG. Its network thread times each step by the wall clock, so in a
    process whose other threads keep the GIL busy (a large submit, a unit's fold) it
    measures the wait for the GIL, not a stuck loop: hundreds of warnings nobody can act on.
    Every other warning of that logger passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.getLogger().level <= logging.DEBUG:
            return True
        return "blocking the event loop" not in record.getMessage()


def get_logger(name: str | None = None) -> Any:
    if not _configured:
        configure()
    return structlog.get_logger(name)

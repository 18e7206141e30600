"""The unit's own secret (256 random bits under the state dir's keys, mode 0600), the key
of two keyed hashes that must not be computable from the database alone:
- API keys are stored as `keyed_hash(secret, "api-key", key)`;
- the screening query log keeps `keyed_hash(secret, "subject", id_number)`, never the
  clear number: an ID number has too few possible values (~10^11) for a plain hash to hide
  it, while with the secret an auditor who is given a number can still find its questions.

HMAC-SHA-256 with a label per use, so the two never collide."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from hub.config import Settings

_BYTES = 32


def secret_path(s: Settings, unit: str) -> Path:
    return s.keys_dir / f"unit-{unit}.query-secret"


def unit_secret(s: Settings, unit: str) -> bytes:
    """The unit's secret, created once (serialised between processes by a lock file)."""
    path = secret_path(s, unit)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(_BYTES))
            data = path.read_bytes()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    if len(data) != _BYTES:
        raise ValueError(f"{path}: not a unit secret ({len(data)} bytes)")
    return data


def keyed_hash(secret: bytes, label: str, value: str) -> bytes:
    return hmac.new(secret, label.encode() + b"\0" + value.encode(), hashlib.sha256).digest()

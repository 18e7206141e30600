"""Where signing keys and the trust store live (under the state dir, `.local/` by
default), and how a signer gets its key: created once, its public half added to the one
trust store that units and auditors load."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.config import Settings
from hub.ledger import SigningKey, TrustStore, generate_key, load_key, save_key


def court_signer(court_code: str) -> str:
    return f"court:{court_code}"


def unit_signer(unit: str) -> str:
    return f"unit:{unit}"


def supervisor_signer(body: str) -> str:
    """The key of a supervising body (全市執行聯動機制工作領導小組, policy 四(四))."""
    return f"supervisor:{body}"


def republisher_signer(site: str) -> str:
    """The key of a republishing site (policy 四(二)7), made by `hub court republishers add`."""
    return f"republisher:{site}"


def key_path(s: Settings, signer: str) -> Path:
    return s.keys_dir / (signer.replace(":", "-") + ".pem")


@contextmanager
def _trust_lock(s: Settings) -> Iterator[None]:
    """Serialise read-modify-write of the trust store between processes."""
    s.trust_store_path.parent.mkdir(parents=True, exist_ok=True)
    with open(s.trust_store_path.with_suffix(".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_key(s: Settings, signer: str) -> tuple[SigningKey, bool]:
    """The signer's key, created on first use; returns (key, created). The public key is
    (re-)registered in the trust store either way, idempotently."""
    path = key_path(s, signer)
    created = False
    with _trust_lock(s):
        if path.exists():
            key = load_key(path, signer)
        else:
            key = generate_key(signer)
            save_key(key, path)
            created = True
        trust = TrustStore.load(s.trust_store_path)
        if trust.add(signer, key.public_bytes()):
            trust.save(s.trust_store_path)
    return key, created


def load_signing_key(s: Settings, signer: str) -> SigningKey | None:
    path = key_path(s, signer)
    return load_key(path, signer) if path.exists() else None


def load_trust(s: Settings) -> TrustStore:
    return TrustStore.load(s.trust_store_path)

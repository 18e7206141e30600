"""Hashes, Merkle proofs, Ed25519 signatures and the trust store of the hub's logs.

Pure apart from reading and writing key and trust-store files: no Kafka, PostgreSQL or Avro
here, so the court relay, the unit consumers and the auditor all share one implementation.

Conventions (docs/events.md): the exact Kafka value bytes are what is hashed and signed;
signatures travel in the headers ``hub-sig`` / ``hub-signer``; ``prev_hash`` is SHA-256 of the
previous value of the same court; Merkle leaves are the value bytes (RFC 9162 §2.1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError

from hub.errors import HubError

__all__ = [
    "EMPTY_ROOT", "GENESIS_HASH", "HASH_SIZE", "PROOF_FORMAT", "SIG_HEADER", "SIGNER_HEADER",
    "Check", "LedgerError", "MerkleAccumulator", "ProofError", "ProofResult", "SignatureError",
    "SigningKey", "TrustError", "TrustStore", "build_proof_document", "chain_hash",
    "check_proof_document", "consistency_proof", "generate_key", "inclusion_proof",
    "leaf_hash", "load_key", "merkle_root", "node_hash", "read_signature_headers", "save_key",
    "signature_headers", "verify_consistency", "verify_inclusion",
]

HASH_SIZE = 32
SIGNATURE_SIZE = 64
GENESIS_HASH = bytes(HASH_SIZE)  # prev_hash of a court's first event (docs/events.md)
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = HASH() (RFC 9162 §2.1.1)
SIG_HEADER = "hub-sig"
SIGNER_HEADER = "hub-signer"
PROOF_FORMAT = "credit-hub-inclusion-proof/1"

# "court:350402", "unit:public-security": ASCII because it travels in a Kafka header and is a
# JSON key in the trust store.
_SIGNER_RE = re.compile(r"^[a-z]+:[A-Za-z0-9][A-Za-z0-9._-]*$")


class LedgerError(HubError):
    """A hash, proof, key or signature problem."""


class SignatureError(LedgerError):
    """A signature does not verify; names the signer and the reason."""

    def __init__(self, signer: str, reason: str) -> None:
        self.signer = signer
        self.reason = reason
        super().__init__(f"signature of {signer!r} rejected: {reason}")


class TrustError(LedgerError):
    """The trust store is malformed or a change to it is refused."""


class ProofError(LedgerError):
    """A Merkle proof cannot be built, or a proof document is malformed."""


# ---------------------------------------------------------------- hashing (RFC 9162 §2.1.1)


def chain_hash(value: bytes) -> bytes:
    """The next event's prev_hash: SHA-256 of this event's exact value bytes."""
    return hashlib.sha256(value).digest()


def leaf_hash(value: bytes) -> bytes:
    # The 0x00 / 0x01 prefixes give leaves and nodes disjoint preimages (second-preimage
    # resistance, RFC 9162 §2.1.1).
    return hashlib.sha256(b"\x00" + value).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): RFC 9162 §2.1.1's k < n <= 2k."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_hash(h: object) -> bool:
    return isinstance(h, bytes) and len(h) == HASH_SIZE


def _check_hashes(hashes: Sequence[bytes]) -> None:
    if not all(_is_hash(h) for h in hashes):
        raise ProofError(f"a tree hash must be {HASH_SIZE} bytes")


def _root(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH of hashes[lo:hi] without copying slices (the accumulator folds left to right)."""
    acc = MerkleAccumulator()
    for i in range(lo, hi):
        acc.append(hashes[i])
    return acc.root()


def merkle_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over already-hashed leaves (RFC 9162 §2.1.1)."""
    _check_hashes(leaf_hashes)
    return _root(leaf_hashes, 0, len(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf first, root-side sibling last."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ProofError(f"leaf index {index} is outside a tree of size {n}")
    _check_hashes(leaf_hashes)
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    # Descend from the root; siblings are collected top-down, then reversed to the RFC order.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(_root(leaf_hashes, lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def verify_inclusion(
    index: int, tree_size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, step by step; never raises on bad input, returns False.

    The path does not always pin ``tree_size`` (leaf 0 verifies the same against 3 or 4
    leaves), so take size and root together from a signed checkpoint, never from the prover.
    """
    if not 0 <= index < tree_size or not _is_hash(leaf_hash) or not _is_hash(root):
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0 or not _is_hash(p):
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # fn was the last node of its level: climb past levels where it has no sibling.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1.

    The RFC defines it for 0 < m < n; for m == 0 and m == n the proof is empty (every tree
    extends the empty tree, and a tree extends itself), as in transparency-dev/merkle.
    """
    n = len(leaf_hashes)
    if not 0 <= old_size <= n:
        raise ProofError(f"old size {old_size} is outside 0..{n}")
    _check_hashes(leaf_hashes)
    if old_size in (0, n):
        return []
    proof: list[bytes] = []
    lo, hi, m, whole_old_tree = 0, n, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_root(leaf_hashes, lo, lo + k))
            lo, m, whole_old_tree = lo + k, m - k, False
    # SUBPROOF(m, D[m], b): the verifier already knows the old root when b is still true.
    if not whole_old_tree:
        proof.append(_root(leaf_hashes, lo, hi))
    proof.reverse()
    return proof


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2; the degenerate sizes follow consistency_proof's convention."""
    if not 0 <= old_size <= new_size or not _is_hash(old_root) or not _is_hash(new_root):
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:  # step 1
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: first is a power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0  # step 7


class MerkleAccumulator:
    """Root of an append-only stream in O(log n) memory.

    Keeps the frontier: the roots of the perfect subtrees that the binary digits of ``size``
    split the leaves into, tallest (leftmost) first. RFC 9162's split at the largest power of
    two makes MTH exactly the right-to-left fold of that frontier, so the root never needs the
    leaves again; the relay persists ``state()`` next to its outbox position.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self) -> None:
        self._frontier: list[tuple[int, bytes]] = []  # (height, subtree root)
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise ProofError(f"a leaf hash must be {HASH_SIZE} bytes")
        height, h = 0, leaf_hash
        # Like a binary increment: equal-height neighbours carry into a taller subtree.
        while self._frontier and self._frontier[-1][0] == height:
            _, left = self._frontier.pop()
            h = node_hash(left, h)
            height += 1
        self._frontier.append((height, h))
        self._size += 1

    def extend(self, leaf_hashes: Sequence[bytes]) -> None:
        """`append` each of `leaf_hashes`, in order, at a third of the cost for long runs.

        Appending the 2**k leaves of a block that starts at a multiple of 2**k carries them
        into one perfect subtree of height k, exactly as appending them one by one would, so
        each such block is hashed level by level (one list pass per level) and pushed
        whole."""
        if not all(type(h) is bytes and len(h) == HASH_SIZE for h in leaf_hashes):
            raise ProofError(f"a leaf hash must be {HASH_SIZE} bytes")
        frontier = self._frontier
        i, n = 0, len(leaf_hashes)
        while i < n:
            size = self._size
            # the tallest block aligned at `size` that the remaining leaves fill
            height = (n - i).bit_length() - 1
            if size:
                height = min(height, (size & -size).bit_length() - 1)
            block = 1 << height
            level = leaf_hashes[i : i + block]
            while len(level) > 1:
                level = [node_hash(left, right)
                         for left, right in zip(level[0::2], level[1::2], strict=True)]
            h = level[0]
            while frontier and frontier[-1][0] == height:  # the carry, as in `append`
                h = node_hash(frontier.pop()[1], h)
                height += 1
            frontier.append((height, h))
            self._size = size + block
            i += block

    def append_value(self, value: bytes) -> None:
        self.append(leaf_hash(value))

    def root(self) -> bytes:
        if not self._frontier:
            return EMPTY_ROOT
        r = self._frontier[-1][1]
        for _, left in reversed(self._frontier[:-1]):
            r = node_hash(left, r)
        return r

    def state(self) -> list[tuple[int, bytes]]:
        return list(self._frontier)

    @classmethod
    def from_state(cls, state: Iterable[tuple[int, bytes]]) -> MerkleAccumulator:
        acc = cls()
        previous: int | None = None
        for height, h in state:
            # Strictly decreasing heights are the binary digits of the size; anything else is
            # a corrupted row, and restoring it would silently fork the log.
            if not isinstance(height, int) or height < 0 or (
                previous is not None and height >= previous
            ):
                raise ProofError("accumulator state heights must strictly decrease")
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise ProofError(f"accumulator state hashes must be {HASH_SIZE} bytes")
            acc._frontier.append((height, h))
            acc._size += 1 << height
            previous = height
        return acc

    def state_json(self) -> str:
        """``[[height, "hex"], ...]``, for a JSON/JSONB column."""
        return json.dumps([[height, h.hex()] for height, h in self._frontier])

    @classmethod
    def from_state_json(cls, text: str) -> MerkleAccumulator:
        try:
            rows = json.loads(text)
            return cls.from_state((int(height), bytes.fromhex(h)) for height, h in rows)
        except (ValueError, TypeError) as e:
            raise ProofError(f"malformed accumulator state: {e}") from e


# ----------------------------------------------------------------------- signing (Ed25519)


def _check_signer(signer: str) -> None:
    if not isinstance(signer, str) or not _SIGNER_RE.match(signer):
        raise LedgerError(f"malformed signer {signer!r}; expected e.g. 'court:350402'")


class SigningKey:
    """An Ed25519 private key and the identity it signs as."""

    __slots__ = ("_key", "_public", "_sodium_secret", "signer")

    def __init__(self, signer: str, private_key: Ed25519PrivateKey) -> None:
        _check_signer(signer)
        self.signer = signer
        self._key = private_key
        seed = private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        # Signing on the hot path goes through libsodium (PyNaCl): on this class of machine
        # it signs in ~24 µs and verifies in ~56 µs, against ~38 / ~112 µs through OpenSSL.
        # Same Ed25519 (RFC 8032), same bytes; cryptography still owns the PEM files.
        self._public, self._sodium_secret = crypto_sign_seed_keypair(seed)

    def sign(self, data: bytes) -> bytes:
        return crypto_sign(data, self._sodium_secret)[:SIGNATURE_SIZE]

    def sodium_secret(self) -> bytes:
        """libsodium's 64-byte secret key: for signing batches in a worker process of the
        key's owner (consumers/agency/verifier.py). Never log or persist it."""
        return bytes(self._sodium_secret)

    def public_bytes(self) -> bytes:
        return bytes(self._public)

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(signer={self.signer!r})"


def generate_key(signer: str) -> SigningKey:
    return SigningKey(signer, Ed25519PrivateKey.generate())


def save_key(key: SigningKey, path: str | os.PathLike[str], overwrite: bool = False) -> None:
    """Write the key as unencrypted PKCS8 PEM readable only by its owner (0600)."""
    target = Path(path)
    pem = key._key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _make_private_dirs(target.parent)
    if not overwrite:
        # O_EXCL: checking existence first and then writing would race another process.
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as e:
            raise LedgerError(f"key file {target} exists; refusing to overwrite it") from e
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # the umask may only narrow it, but be explicit
            f.write(pem)
        return
    _atomic_write(target, pem, 0o600)


def _make_private_dirs(directory: Path) -> None:
    # Path.mkdir(parents=True) and os.makedirs give only the last directory the mode; every
    # directory we create for a private key must be 0700. Existing ones are left alone.
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:  # created concurrently
            continue
        os.chmod(d, 0o700)  # the umask may have narrowed it further than we want


def load_key(path: str | os.PathLike[str], signer: str) -> SigningKey:
    try:
        data = Path(path).read_bytes()
        private = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError) as e:
        raise LedgerError(f"cannot load key {path}: {e}") from e
    if not isinstance(private, Ed25519PrivateKey):
        raise LedgerError(f"key {path} is not an Ed25519 private key")
    return SigningKey(signer, private)


def _atomic_write(target: Path, data: bytes, mode: int) -> None:
    # Temp file in the same directory + os.replace: readers see the old or the new file,
    # never a torn one, even if we crash mid-write.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- trust store


def _public_key(raw: bytes) -> bytes:
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise TrustError("an Ed25519 public key is 32 raw bytes")
    Ed25519PublicKey.from_public_bytes(raw)  # rejects a malformed point up front
    return raw


class TrustStore:
    """Signer → Ed25519 public key, persisted as a small versioned JSON file."""

    VERSION = 1

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, str]] = {}
        self._cache: dict[str, bytes] = {}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustStore:
        store = cls()
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return store
        except (OSError, ValueError) as e:
            raise TrustError(f"cannot read trust store {path}: {e}") from e
        if not isinstance(doc, dict) or doc.get("version") != cls.VERSION:
            raise TrustError(f"trust store {path} is not version {cls.VERSION}")
        keys = doc.get("keys")
        if not isinstance(keys, dict):
            raise TrustError(f"trust store {path} has no 'keys' object")
        for signer, entry in keys.items():
            try:
                _check_signer(signer)
                raw = base64.b64decode(entry["public_key"], validate=True)
                _public_key(raw)
                added_at = str(entry.get("added_at", ""))
            except (LedgerError, KeyError, TypeError, ValueError, binascii.Error) as e:
                raise TrustError(f"trust store {path}: bad entry for {signer!r}: {e}") from e
            store._entries[signer] = {
                "public_key": base64.b64encode(raw).decode("ascii"),
                "added_at": added_at,
            }
        return store

    def add(self, signer: str, public_bytes: bytes, replace: bool = False) -> bool:
        """Trust ``public_bytes`` for ``signer``; returns whether the store changed.

        Re-adding the same key is a no-op (keeps ``added_at``) so provisioning can be rerun;
        a different key for a known signer is a key rotation and must be asked for.
        """
        _check_signer(signer)
        _public_key(public_bytes)
        encoded = base64.b64encode(public_bytes).decode("ascii")
        current = self._entries.get(signer)
        if current is not None:
            if current["public_key"] == encoded:
                return False
            if not replace:
                raise TrustError(f"{signer!r} already has a different key; use replace=True")
        self._entries[signer] = {
            "public_key": encoded,
            "added_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._cache.pop(signer, None)
        return True

    def save(self, path: str | os.PathLike[str]) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": self.VERSION, "keys": dict(sorted(self._entries.items()))}
        text = json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
        _atomic_write(target, text.encode("ascii"), 0o644)  # public keys only

    def public_key(self, signer: str) -> bytes:
        entry = self._entries.get(signer)
        if entry is None:
            raise TrustError(f"unknown signer {signer!r}")
        return base64.b64decode(entry["public_key"])

    def signers(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, signer: object) -> bool:
        return signer in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def _loaded(self, signer: str) -> bytes:
        # Parsing a public key costs about as much as a verify; the auditor checks millions of
        # records from a few dozen signers, so keep the parsed objects.
        key = self._cache.get(signer)
        if key is None:
            entry = self._entries.get(signer)
            if entry is None:
                raise SignatureError(signer, "unknown signer")
            key = _public_key(base64.b64decode(entry["public_key"]))
            self._cache[signer] = key
        return key

    def verify(self, signer: str, data: bytes, signature: bytes) -> None:
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_SIZE:
            raise SignatureError(signer, f"malformed: a signature is {SIGNATURE_SIZE} bytes")
        if not isinstance(data, bytes):
            raise SignatureError(signer, "malformed: signed data must be bytes")
        key = self._loaded(signer)
        try:
            crypto_sign_open(signature + data, key)
        except (BadSignatureError, ValueError) as e:
            raise SignatureError(signer, "bad signature") from e

    def verify_many(self, items: Iterable[tuple[str, bytes, bytes]]) -> list[int]:
        """Indices of the items whose signature fails, for any reason."""
        failed: list[int] = []
        for i, (signer, data, signature) in enumerate(items):
            try:
                self.verify(signer, data, signature)
            except SignatureError:
                failed.append(i)
        return failed


# ------------------------------------------------------------------------- Kafka headers


def signature_headers(key: SigningKey, value: bytes) -> list[tuple[str, bytes]]:
    """kafka-python ``headers=`` for a value signed by ``key``."""
    return [(SIG_HEADER, key.sign(value)), (SIGNER_HEADER, key.signer.encode("ascii"))]


def read_signature_headers(headers: Sequence[tuple[str, bytes]] | None) -> tuple[str, bytes] | None:
    """``(signer, signature)``, or None when the record carries neither header.

    Raises SignatureError when they are present but unusable (one missing, repeated, wrong
    length, non-ASCII signer), so the consumer can dead-letter with a precise reason.
    """
    sigs = [v for k, v in headers or () if k == SIG_HEADER]
    signers = [v for k, v in headers or () if k == SIGNER_HEADER]
    if not sigs and not signers:
        return None
    if len(sigs) != 1 or len(signers) != 1:
        who = signers[0].decode("ascii", "replace") if len(signers) == 1 and signers[0] else "?"
        raise SignatureError(who, "malformed: need exactly one hub-sig and one hub-signer")
    raw_signer, sig = signers[0], sigs[0]
    try:
        signer = bytes(raw_signer).decode("ascii")
        _check_signer(signer)
    except (UnicodeDecodeError, TypeError, LedgerError) as e:
        raise SignatureError(repr(raw_signer), "malformed hub-signer header") from e
    if not isinstance(sig, bytes) or len(sig) != SIGNATURE_SIZE:
        raise SignatureError(signer, f"malformed: hub-sig must be {SIGNATURE_SIZE} bytes")
    return signer, sig


# ------------------------------------------------------------ offline inclusion proof document


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_proof_document(
    event_value: bytes,
    event_signature: bytes,
    event_signer: str,
    index: int,
    checkpoint_value: bytes,
    checkpoint_signature: bytes,
    checkpoint_signer: str,
    tree_size: int,
    root: bytes,
    proof: list[bytes],
) -> dict[str, Any]:
    """A self-contained JSON document proving an event is in a signed checkpoint.

    ``index`` is the 0-based leaf index (a court event's court_seq - 1). The inclusion is
    checked here so the hub never hands out a document that cannot verify.
    """
    lh = leaf_hash(event_value)
    if not verify_inclusion(index, tree_size, lh, proof, root):
        raise ProofError(f"leaf {index} is not included in the tree of size {tree_size}")
    return {
        "format": PROOF_FORMAT,
        "event": {
            "value": _b64(event_value),
            "signature": _b64(event_signature),
            "signer": event_signer,
            "leaf_index": index,
            "leaf_hash": lh.hex(),
        },
        "checkpoint": {
            "value": _b64(checkpoint_value),
            "signature": _b64(checkpoint_signature),
            "signer": checkpoint_signer,
            "tree_size": tree_size,
            "root_hash": root.hex(),
        },
        "inclusion_path": [p.hex() for p in proof],
    }


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "pass" | "fail" | "skip"
    detail: str = ""


@dataclass(frozen=True)
class ProofResult:
    """Every check of a proof document; ``ok`` only when none failed."""

    event_signer: str
    checkpoint_signer: str
    leaf_index: int
    tree_size: int
    root_hash: bytes
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def __bool__(self) -> bool:
        return self.ok


def _field(obj: Any, key: str, kind: type) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProofError(f"proof document: '{key}' missing or not {kind.__name__}")
    return value


def check_proof_document(
    doc: dict[str, Any],
    trust: TrustStore,
    checkpoint_fields: Callable[[bytes], tuple[int, bytes]] | None = None,
    require_same_signer: bool = True,
) -> ProofResult:
    """Verify a document from build_proof_document offline.

    Raises ProofError when the document is not even well-formed. Otherwise runs every check
    and reports each. Without ``checkpoint_fields`` (the codec's decoder of the signed
    checkpoint value) the claimed tree_size/root_hash are not bound to the signature, and
    the check is reported as skipped: pass it whenever the codec is available.
    """
    if not isinstance(doc, dict) or doc.get("format") != PROOF_FORMAT:
        raise ProofError(f"not a {PROOF_FORMAT} document")
    ev, cp = _field(doc, "event", dict), _field(doc, "checkpoint", dict)
    try:
        ev_value = base64.b64decode(_field(ev, "value", str), validate=True)
        ev_sig = base64.b64decode(_field(ev, "signature", str), validate=True)
        cp_value = base64.b64decode(_field(cp, "value", str), validate=True)
        cp_sig = base64.b64decode(_field(cp, "signature", str), validate=True)
        root = bytes.fromhex(_field(cp, "root_hash", str))
        path = [bytes.fromhex(p) if isinstance(p, str) else b"" for p in
                _field(doc, "inclusion_path", list)]
    except (binascii.Error, ValueError) as e:
        raise ProofError(f"proof document: bad encoding: {e}") from e
    ev_signer, cp_signer = _field(ev, "signer", str), _field(cp, "signer", str)
    index, size = _field(ev, "leaf_index", int), _field(cp, "tree_size", int)

    checks: list[Check] = []

    def signature(name: str, signer: str, data: bytes, sig: bytes) -> None:
        try:
            trust.verify(signer, data, sig)
            checks.append(Check(name, "pass", signer))
        except SignatureError as e:
            checks.append(Check(name, "fail", str(e)))

    signature("checkpoint_signature", cp_signer, cp_value, cp_sig)
    signature("event_signature", ev_signer, ev_value, ev_sig)
    if require_same_signer:
        # A checkpoint vouches for one court's log only; another signer's root says nothing
        # about this court's event.
        same = ev_signer == cp_signer
        checks.append(Check("same_signer", "pass" if same else "fail",
                            "" if same else f"{ev_signer} != {cp_signer}"))
    if checkpoint_fields is None:
        checks.append(Check("checkpoint_fields", "skip", "no decoder for the checkpoint value"))
    else:
        try:
            signed_size, signed_root = checkpoint_fields(cp_value)
            bound = signed_size == size and signed_root == root
            detail = "" if bound else "tree_size/root_hash differ from the signed checkpoint"
            checks.append(Check("checkpoint_fields", "pass" if bound else "fail", detail))
        except Exception as e:  # noqa: BLE001 - any decoder failure is a failed check
            checks.append(Check("checkpoint_fields", "fail", f"cannot decode: {e}"))
    lh = leaf_hash(ev_value)
    claimed = ev.get("leaf_hash")
    if claimed is not None and claimed != lh.hex():
        checks.append(Check("leaf_hash", "fail", "leaf_hash does not match the event value"))
    included = verify_inclusion(index, size, lh, path, root)
    checks.append(Check("inclusion", "pass" if included else "fail",
                        "" if included else f"leaf {index} not in tree of size {size}"))
    return ProofResult(ev_signer, cp_signer, index, size, root, tuple(checks))

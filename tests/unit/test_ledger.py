"""hub.ledger: RFC 9162 Merkle trees and proofs, Ed25519 keys, trust store, proof documents."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import HubError
from hub.ledger import (
    EMPTY_ROOT,
    GENESIS_HASH,
    PROOF_FORMAT,
    SIG_HEADER,
    SIGNER_HEADER,
    LedgerError,
    MerkleAccumulator,
    ProofError,
    SignatureError,
    SigningKey,
    TrustError,
    TrustStore,
    build_proof_document,
    chain_hash,
    check_proof_document,
    consistency_proof,
    generate_key,
    inclusion_proof,
    leaf_hash,
    load_key,
    merkle_root,
    node_hash,
    read_signature_headers,
    save_key,
    signature_headers,
    verify_consistency,
    verify_inclusion,
)

pytestmark = pytest.mark.unit

# Known answers: the RFC 6962 / RFC 9162 reference leaves and tree heads published by
# transparency-dev/merkle (testonly/constants.go) and certificate-transparency-go.
REF_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
REF_ROOTS = [bytes.fromhex(h) for h in (
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
REF_INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
REF_CONSISTENCY = [
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
# RFC 8032 §7.1 TEST 1 (empty message): Ed25519 is deterministic, so signing must match.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUB = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIG = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b"
)

N = 40
LEAVES = [leaf_hash(hashlib.sha256(b"leaf %d" % i).digest()) for i in range(70)]
ROOTS = [merkle_root(LEAVES[:n]) for n in range(71)]


def _reference_root(hashes: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1's recursive definition, as an oracle."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(_reference_root(hashes[:k]), _reference_root(hashes[k:]))


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


# ------------------------------------------------------------------------------ hashing


def test_chain_and_genesis() -> None:
    assert GENESIS_HASH == bytes(32)
    assert chain_hash(b"abc") == hashlib.sha256(b"abc").digest()


def test_known_roots() -> None:
    hashes = [leaf_hash(v) for v in REF_LEAVES]
    assert EMPTY_ROOT == REF_ROOTS[0]
    assert leaf_hash(b"") == REF_ROOTS[1]
    for n in range(len(REF_LEAVES) + 1):
        assert merkle_root(hashes[:n]) == REF_ROOTS[n], n


def test_known_proofs() -> None:
    hashes = [leaf_hash(v) for v in REF_LEAVES]
    for index, size, expected in REF_INCLUSION:
        proof = inclusion_proof(index, hashes[:size])
        assert [p.hex() for p in proof] == expected
        assert verify_inclusion(index, size, hashes[index], proof, REF_ROOTS[size])
    for old, new, expected in REF_CONSISTENCY:
        proof = consistency_proof(old, hashes[:new])
        assert [p.hex() for p in proof] == expected
        assert verify_consistency(old, new, REF_ROOTS[old], REF_ROOTS[new], proof)


def test_merkle_root_matches_the_rfc_recursion_and_the_accumulator() -> None:
    acc = MerkleAccumulator()
    for n in range(71):
        assert acc.size == n
        assert acc.root() == merkle_root(LEAVES[:n]) == _reference_root(LEAVES[:n]), n
        restored = MerkleAccumulator.from_state(acc.state())
        assert restored.size == n and restored.root() == acc.root()
        assert len(acc.state()) == bin(n).count("1")  # O(log n): one subtree per set bit
        again = MerkleAccumulator.from_state_json(json.loads(json.dumps(acc.state_json())))
        assert again.root() == acc.root()
        if n < 70:
            acc.append(LEAVES[n])


def test_accumulator_resumes_after_restore() -> None:
    acc = MerkleAccumulator()
    for h in LEAVES[:23]:
        acc.append(h)
    resumed = MerkleAccumulator.from_state_json(acc.state_json())
    for h in LEAVES[23:]:
        resumed.append(h)
    assert resumed.root() == merkle_root(LEAVES)
    values = MerkleAccumulator()
    values.append_value(b"x")
    assert values.root() == leaf_hash(b"x")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=70), max_size=8))
def test_extend_is_append_leaf_by_leaf(runs: list[int]) -> None:
    """Runs of any length from any size (aligned or not): the same frontier as `append`."""
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(sum(runs))]
    one, many = MerkleAccumulator(), MerkleAccumulator()
    pos = 0
    for n in runs:
        for h in leaves[pos : pos + n]:
            one.append(h)
        many.extend(leaves[pos : pos + n])
        pos += n
        assert many.state() == one.state() and many.size == one.size
    assert many.root() == merkle_root(leaves) == _reference_root(leaves)


def test_extend_refuses_a_bad_leaf_and_changes_nothing() -> None:
    acc = MerkleAccumulator()
    acc.extend(LEAVES[:5])
    before = acc.state()
    with pytest.raises(ProofError):
        acc.extend([LEAVES[5], b"short"])
    assert acc.state() == before and acc.size == 5


@pytest.mark.parametrize("state", [
    [(1, bytes(32)), (1, bytes(32))],
    [(0, bytes(32)), (2, bytes(32))],
    [(-1, bytes(32))],
    [(0, bytes(31))],
])
def test_accumulator_rejects_corrupt_state(state: list[tuple[int, bytes]]) -> None:
    with pytest.raises(ProofError):
        MerkleAccumulator.from_state(state)
    with pytest.raises(ProofError):
        MerkleAccumulator.from_state_json("not json")
    with pytest.raises(ProofError):
        MerkleAccumulator().append(b"short")


def test_bad_hash_lengths_are_refused() -> None:
    with pytest.raises(ProofError):
        merkle_root([b"x"])
    with pytest.raises(ProofError):
        inclusion_proof(3, LEAVES[:3])
    with pytest.raises(ProofError):
        consistency_proof(4, LEAVES[:3])
    # Verifiers answer False, never raise, whatever they are handed.
    proof = inclusion_proof(1, LEAVES[:4])
    not_bytes: list[Any] = ["x" * 32, *proof[1:]]
    assert not verify_inclusion(1, 4, LEAVES[1], not_bytes, ROOTS[4])
    assert not verify_inclusion(1, 4, LEAVES[1][:31], proof, ROOTS[4])
    assert not verify_consistency(2, 4, ROOTS[2], ROOTS[4], [b"x"])


# ------------------------------------------------------------------------------ inclusion


def test_inclusion_all_pairs_valid_and_tampered() -> None:
    for n in range(1, N + 1):
        root = ROOTS[n]
        for i in range(n):
            proof = inclusion_proof(i, LEAVES[:n])
            assert verify_inclusion(i, n, LEAVES[i], proof, root), (i, n)
            assert not verify_inclusion(i, n, _flip(LEAVES[i]), proof, root)
            assert not verify_inclusion(i, n, LEAVES[i], proof, _flip(root))
            # (A wrong tree_size is not always detectable from the path alone, e.g. leaf 0 of
            # 3 vs 4 leaves: the size is bound by the signed checkpoint, not by the proof.)
            assert not verify_inclusion(i, n, LEAVES[i], proof + [LEAVES[0]], root)
            assert not verify_inclusion(n, n, LEAVES[i], proof, root)
            assert not verify_inclusion(-1, n, LEAVES[i], proof, root)
            if i + 1 < n:
                assert not verify_inclusion(i + 1, n, LEAVES[i], proof, root)
            for j in range(len(proof)):
                tampered = list(proof)
                tampered[j] = _flip(tampered[j])
                assert not verify_inclusion(i, n, LEAVES[i], tampered, root)
            if proof:
                assert not verify_inclusion(i, n, LEAVES[i], proof[:-1], root)


# ---------------------------------------------------------------------------- consistency


def test_consistency_all_pairs_valid_and_tampered() -> None:
    for n in range(0, N + 1):
        for m in range(0, n + 1):
            proof = consistency_proof(m, LEAVES[:n])
            assert verify_consistency(m, n, ROOTS[m], ROOTS[n], proof), (m, n)
            if m > 0:  # every tree extends the empty one, whatever its root
                assert not verify_consistency(m, n, ROOTS[m], _flip(ROOTS[n]), proof)
                assert not verify_consistency(m, n, _flip(ROOTS[m]), ROOTS[n], proof)
            if 0 < m < n:
                assert proof
                assert not verify_consistency(m, n, ROOTS[m], ROOTS[n], proof[:-1])
                assert not verify_consistency(m, n, ROOTS[m], ROOTS[n], proof + [LEAVES[0]])
                # A wrong old size with the right old root: the proof no longer fits.
                if m + 1 < n:
                    assert not verify_consistency(m + 1, n, ROOTS[m], ROOTS[n], proof)
                for j in range(len(proof)):
                    tampered = list(proof)
                    tampered[j] = _flip(tampered[j])
                    assert not verify_consistency(m, n, ROOTS[m], ROOTS[n], tampered)
            if m < n:
                assert not verify_consistency(n, m, ROOTS[n], ROOTS[m], proof)


def test_consistency_degenerate_sizes() -> None:
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    assert not verify_consistency(0, 5, ROOTS[1], ROOTS[5], [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [LEAVES[0]])
    assert verify_consistency(4, 4, ROOTS[4], ROOTS[4], [])
    assert not verify_consistency(4, 4, ROOTS[4], ROOTS[5], [])
    assert not verify_consistency(4, 4, ROOTS[4], ROOTS[4], [LEAVES[0]])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
       st.integers(0, 31))
def test_inclusion_property(size_index: tuple[int, int], byte: int) -> None:
    n, i = size_index
    proof = inclusion_proof(i, LEAVES[:n])
    assert verify_inclusion(i, n, LEAVES[i], proof, ROOTS[n])
    for j, p in enumerate(proof):  # any single bit anywhere in the path breaks it
        bad = bytearray(p)
        bad[byte] ^= 0x80
        assert not verify_inclusion(i, n, LEAVES[i], proof[:j] + [bytes(bad)] + proof[j + 1:],
                                    ROOTS[n])


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 70).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n))))
def test_consistency_property(sizes: tuple[int, int]) -> None:
    m, n = sizes
    proof = consistency_proof(m, LEAVES[:n])
    assert verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)
    # A rewritten history: same size, one old leaf changed.
    forged = [LEAVES[0] if k == m - 1 else h for k, h in enumerate(LEAVES[:n])]
    if forged != LEAVES[:n]:
        assert not verify_consistency(m, n, ROOTS[m], merkle_root(forged), proof)


# ---------------------------------------------------------------------------- keys


def test_signing_matches_rfc8032() -> None:
    key = SigningKey("court:350402", Ed25519PrivateKey.from_private_bytes(RFC8032_SEED))
    assert key.public_bytes() == RFC8032_PUB
    assert key.sign(b"") == RFC8032_SIG
    assert "9d61" not in repr(key)


def test_save_and_load_key(tmp_path: Path) -> None:
    key = generate_key("unit:finance")
    path = tmp_path / "keys" / "nested" / "finance.pem"
    save_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_key(path, "unit:finance")
    assert loaded.signer == "unit:finance"
    assert loaded.public_bytes() == key.public_bytes()

    other = generate_key("unit:finance")
    with pytest.raises(LedgerError):
        save_key(other, path)
    assert load_key(path, "unit:finance").public_bytes() == key.public_bytes()
    save_key(other, path, overwrite=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path, "unit:finance").public_bytes() == other.public_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["finance.pem"]  # no temp left over


def test_load_key_errors(tmp_path: Path) -> None:
    with pytest.raises(LedgerError):
        load_key(tmp_path / "missing.pem", "unit:finance")
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(LedgerError):
        load_key(tmp_path / "junk.pem", "unit:finance")
    with pytest.raises(LedgerError):
        generate_key("no colon")
    assert issubclass(LedgerError, HubError)
    assert issubclass(SignatureError, LedgerError)


# ---------------------------------------------------------------------------- trust store


def test_trust_store_round_trip_and_idempotence(tmp_path: Path) -> None:
    path = tmp_path / "trust" / "trust.json"
    store = TrustStore.load(path)
    assert store.signers() == [] and len(store) == 0
    court, unit = generate_key("court:350402"), generate_key("unit:finance")
    assert store.add(court.signer, court.public_bytes())
    assert store.add(unit.signer, unit.public_bytes())
    store.save(path)
    doc = json.loads(path.read_text())
    assert doc["version"] == 1
    assert base64.b64decode(doc["keys"]["court:350402"]["public_key"]) == court.public_bytes()
    assert doc["keys"]["unit:finance"]["added_at"]

    again = TrustStore.load(path)
    assert again.signers() == ["court:350402", "unit:finance"]
    assert again.public_key("court:350402") == court.public_bytes()
    added_at = json.loads(path.read_text())["keys"]["court:350402"]["added_at"]
    assert not again.add(court.signer, court.public_bytes())  # same key: no change
    again.save(path)
    assert json.loads(path.read_text())["keys"]["court:350402"]["added_at"] == added_at
    assert [p.name for p in path.parent.iterdir()] == ["trust.json"]


def test_trust_store_replace(tmp_path: Path) -> None:
    store = TrustStore()
    old, new = generate_key("court:350402"), generate_key("court:350402")
    store.add(old.signer, old.public_bytes())
    store.verify(old.signer, b"v", old.sign(b"v"))  # fills the cache
    with pytest.raises(TrustError):
        store.add(new.signer, new.public_bytes())
    assert store.public_key(old.signer) == old.public_bytes()
    assert store.add(new.signer, new.public_bytes(), replace=True)
    store.verify(new.signer, b"v", new.sign(b"v"))
    with pytest.raises(SignatureError):  # the cached old key must be gone
        store.verify(old.signer, b"v", old.sign(b"v"))
    with pytest.raises(TrustError):
        store.add("unit:x", b"short")
    with pytest.raises(TrustError):
        store.public_key("unit:nobody")


@pytest.mark.parametrize("text", [
    "not json", '{"version": 2, "keys": {}}', '{"version": 1}',
    '{"version": 1, "keys": {"court:1": {"public_key": "AAAA"}}}',
    '{"version": 1, "keys": {"bad signer": {"public_key": "' + "A" * 43 + '="}}}',
])
def test_trust_store_rejects_malformed_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "trust.json"
    path.write_text(text)
    with pytest.raises(TrustError):
        TrustStore.load(path)


def test_verify_names_signer_and_reason() -> None:
    store = TrustStore()
    store.add("court:350402", RFC8032_PUB)
    store.verify("court:350402", b"", RFC8032_SIG)
    cases = [
        ("unit:nobody", b"", RFC8032_SIG, "unknown signer"),
        ("court:350402", b"x", RFC8032_SIG, "bad signature"),
        ("court:350402", b"", RFC8032_SIG[:63], "malformed"),
    ]
    for signer, data, sig, reason in cases:
        with pytest.raises(SignatureError) as info:
            store.verify(signer, data, sig)
        assert info.value.signer == signer and reason in info.value.reason
        assert signer in str(info.value)
    items = [(signer, data, sig) for signer, data, sig, _ in cases]
    assert store.verify_many([("court:350402", b"", RFC8032_SIG), *items]) == [1, 2, 3]
    assert store.verify_many([]) == []


# ---------------------------------------------------------------------------- headers


def test_signature_headers_round_trip() -> None:
    key = generate_key("court:350402")
    headers = signature_headers(key, b"value")
    assert dict(headers)[SIGNER_HEADER] == b"court:350402"
    signer, sig = read_signature_headers([("other", b"x"), *headers]) or ("", b"")
    assert signer == "court:350402"
    store = TrustStore()
    store.add(key.signer, key.public_bytes())
    store.verify(signer, b"value", sig)
    assert read_signature_headers([]) is None
    assert read_signature_headers([("traceparent", b"x")]) is None


@pytest.mark.parametrize("headers", [
    [(SIG_HEADER, bytes(64))],
    [(SIGNER_HEADER, b"court:1")],
    [(SIG_HEADER, bytes(64)), (SIG_HEADER, bytes(64)), (SIGNER_HEADER, b"court:1")],
    [(SIG_HEADER, bytes(63)), (SIGNER_HEADER, b"court:1")],
    [(SIG_HEADER, bytes(64)), (SIGNER_HEADER, b"\xff\xfe")],
])
def test_malformed_signature_headers(headers: list[tuple[str, bytes]]) -> None:
    with pytest.raises(SignatureError):
        read_signature_headers(headers)


# ---------------------------------------------------------------------------- proof documents


def _fake_checkpoint(size: int, root: bytes) -> bytes:
    # Stand-in for the Avro CourtCheckpoint value: ledger must not depend on the codec.
    return json.dumps({"tree_size": size, "root_hash": root.hex()}).encode()


def _fields(value: bytes) -> tuple[int, bytes]:
    doc = json.loads(value)
    return doc["tree_size"], bytes.fromhex(doc["root_hash"])


@pytest.fixture
def proof_setup() -> tuple[dict[str, Any], TrustStore]:
    court = generate_key("court:350402")
    values = [b"event %d" % i for i in range(11)]
    hashes = [leaf_hash(v) for v in values]
    size, index = 9, 6
    root = merkle_root(hashes[:size])
    checkpoint = _fake_checkpoint(size, root)
    doc = build_proof_document(
        values[index], court.sign(values[index]), court.signer, index,
        checkpoint, court.sign(checkpoint), court.signer,
        size, root, inclusion_proof(index, hashes[:size]),
    )
    trust = TrustStore()
    trust.add(court.signer, court.public_bytes())
    return doc, trust


def test_proof_document_round_trip(proof_setup: tuple[dict[str, Any], TrustStore]) -> None:
    doc, trust = proof_setup
    assert doc["format"] == PROOF_FORMAT
    doc = json.loads(json.dumps(doc))  # it is plain JSON
    result = check_proof_document(doc, trust, checkpoint_fields=_fields)
    assert result.ok and bool(result), result.failures
    assert (result.leaf_index, result.tree_size) == (6, 9)
    assert {c.name for c in result.checks} >= {
        "checkpoint_signature", "event_signature", "checkpoint_fields", "inclusion"}
    unbound = check_proof_document(doc, trust)
    assert unbound.ok
    assert [c.status for c in unbound.checks if c.name == "checkpoint_fields"] == ["skip"]


def _tamper(doc: dict[str, Any], section: str, key: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    if section:
        out[section][key] = value
    else:
        out[key] = value
    return out


def test_proof_document_tampering(proof_setup: tuple[dict[str, Any], TrustStore]) -> None:
    doc, trust = proof_setup
    b64 = base64.b64encode
    other = generate_key("court:350403")
    trust.add(other.signer, other.public_bytes())
    path = doc["inclusion_path"]
    cases: list[tuple[dict[str, Any], str]] = [
        (_tamper(doc, "event", "value", b64(b"event 5").decode()), "event_signature"),
        (_tamper(doc, "event", "leaf_index", 5), "inclusion"),
        (_tamper(doc, "checkpoint", "tree_size", 10), "checkpoint_fields"),
        (_tamper(doc, "checkpoint", "root_hash", _flip(bytes.fromhex(
            doc["checkpoint"]["root_hash"])).hex()), "checkpoint_fields"),
        (_tamper(doc, "", "inclusion_path", [_flip(bytes.fromhex(path[0])).hex(), *path[1:]]),
         "inclusion"),
        (_tamper(doc, "", "inclusion_path", path[:-1]), "inclusion"),
        (_tamper(doc, "checkpoint", "signature", b64(bytes(64)).decode()),
         "checkpoint_signature"),
        (_tamper(doc, "checkpoint", "signer", "court:350403"), "checkpoint_signature"),
        (_tamper(doc, "event", "signer", "court:999999"), "event_signature"),
    ]
    for tampered, failing in cases:
        result = check_proof_document(tampered, trust, checkpoint_fields=_fields)
        assert not result.ok
        assert failing in {c.name for c in result.failures}, (failing, result.failures)

    # A checkpoint re-signed with tampered contents still has to match the claimed fields.
    forged_cp = _fake_checkpoint(9, bytes(32))
    forged = _tamper(doc, "checkpoint", "value", b64(forged_cp).decode())
    forged["checkpoint"]["signature"] = b64(other.sign(forged_cp)).decode()
    forged["checkpoint"]["signer"] = other.signer
    failed = {c.name for c in check_proof_document(forged, trust, _fields).failures}
    assert failed == {"checkpoint_fields", "same_signer"}

    def broken(value: bytes) -> tuple[int, bytes]:
        raise ValueError("not a checkpoint")

    assert not check_proof_document(doc, trust, checkpoint_fields=broken).ok


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(format="other/1"),
    lambda d: d.pop("checkpoint"),
    lambda d: d["event"].update(value="***"),
    lambda d: d["event"].update(leaf_index="6"),
    lambda d: d["checkpoint"].update(root_hash="zz"),
])
def test_malformed_proof_documents(proof_setup: tuple[dict[str, Any], TrustStore],
                                   mutate: Any) -> None:
    doc, trust = proof_setup
    doc = copy.deepcopy(doc)
    mutate(doc)
    with pytest.raises(ProofError):
        check_proof_document(doc, trust)


def test_build_refuses_a_proof_that_does_not_verify() -> None:
    key = generate_key("court:1")
    hashes = LEAVES[:5]
    with pytest.raises(ProofError):
        build_proof_document(b"not leaf 2", key.sign(b"x"), key.signer, 2, b"cp",
                             key.sign(b"cp"), key.signer, 5, ROOTS[5],
                             inclusion_proof(2, hashes))


def test_key_file_not_world_readable_even_with_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        save_key(generate_key("unit:finance"), tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600

"""The hash chain, checkpoints and the audit key: definitions checked against independent computations."""

import hashlib
import json
import stat
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from exchange.audit import chain, checkpoint, keys, merkle

BODY = {
    "time": "2026-11-28T08:00:00.000001Z",
    "event_id": "e" * 32,
    "gateway": "gw-0",
    "actor_department": "zjj",
    "actor_system": None,
    "actor_user": None,
    "action": "element.decided",
    "subject_index": "ab" * 32,
    "elements": ["person.name"],
    "service_item": "330100-GZF-001",
    "case_no": "住建-2026-1",
    "decision": "allow",
    "reason": None,
    "source": "psb",
    "request_id": "q-00000001",
    "response_digest": None,
}


def test_hash_is_sha256_over_the_jcs_record_including_prev_hash() -> None:
    record = chain.seal(BODY, seq=7, prev_hash="11" * 32)
    hashed = {k: v for k, v in record.items() if k != "hash"}
    # JCS: keys sorted by UTF-16 code units, no whitespace, UTF-8 (the Chinese case number stays as is).
    expected = hashlib.sha256(
        json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert record["hash"] == expected.hexdigest()
    assert chain.canonical(record) == rfc8785.dumps(hashed)
    assert record["prev_hash"] == "11" * 32 and record["seq"] == 7


def test_every_field_and_the_link_are_covered_by_the_hash() -> None:
    record = chain.seal(BODY, seq=1, prev_hash=chain.GENESIS)
    for field in chain.RECORD_FIELDS:
        if field == "hash":
            continue
        changed = dict(record)
        changed[field] = 2 if field == "seq" else ["x.y"] if field == "elements" else "other"
        assert chain.record_hash(changed) != record["hash"], field


def test_seal_all_links_each_record_to_the_one_before() -> None:
    records = list(chain.seal_all([BODY] * 3, head_seq=10, head_hash="22" * 32))
    assert [r["seq"] for r in records] == [11, 12, 13]
    assert records[0]["prev_hash"] == "22" * 32
    assert records[1]["prev_hash"] == records[0]["hash"] and records[2]["prev_hash"] == records[1]["hash"]


def test_time_text_round_trips_and_naive_times_are_utc() -> None:
    t = chain.parse_time(BODY["time"])
    assert chain.format_time(t) == BODY["time"]
    assert chain.format_time(t.replace(tzinfo=None)) == BODY["time"]


def test_checkpoint_is_signed_over_its_fields_and_detects_any_change(tmp_path: Path) -> None:
    key = keys.load_or_create(tmp_path)
    hashes = [r["hash"] for r in chain.seal_all([BODY] * 5, head_seq=0, head_hash=chain.GENESIS)]
    cp = checkpoint.make(first_seq=1, last_seq=5, hashes=hashes, time=BODY["time"], key=key)
    leaves = [merkle.leaf_hash(bytes.fromhex(h)) for h in hashes]
    assert cp["merkle_root"] == merkle.root_from_leaf_hashes(leaves).hex()
    assert cp["last_hash"] == hashes[-1] and cp["kid"] == key.kid
    assert checkpoint.signature_ok(cp, key.public)
    for field, value in (("merkle_root", "00" * 32), ("last_seq", 6), ("first_seq", 2), ("time", "x")):
        assert not checkpoint.signature_ok({**cp, field: value}, key.public), field
    assert not checkpoint.signature_ok({**cp, "signature": "not-base64!"}, key.public)
    other = keys.load_or_create(tmp_path / "other")
    assert not checkpoint.signature_ok(cp, other.public)


def test_a_checkpoint_needs_one_hash_per_record(tmp_path: Path) -> None:
    key = keys.load_or_create(tmp_path)
    with pytest.raises(ValueError):
        checkpoint.make(first_seq=1, last_seq=3, hashes=["00" * 32], time=BODY["time"], key=key)
    with pytest.raises(ValueError):
        checkpoint.make(first_seq=1, last_seq=0, hashes=[], time=BODY["time"], key=key)


def test_record_inclusion_proof_round_trip() -> None:
    hashes = [r["hash"] for r in chain.seal_all([BODY] * 9, head_seq=0, head_hash=chain.GENESIS)]
    root = checkpoint.merkle_root(hashes)
    for i, h in enumerate(hashes):
        path = checkpoint.inclusion_proof(hashes, i)
        assert checkpoint.proof_ok(h, i, 9, path, root)
        assert not checkpoint.proof_ok(hashes[(i + 1) % 9], i, 9, path, root)
    assert not checkpoint.proof_ok("zz", 0, 9, [], root)


def test_audit_key_is_created_once_with_mode_0600_and_reloaded(tmp_path: Path) -> None:
    first = keys.load_or_create(tmp_path / "audit")
    path = tmp_path / "audit" / keys.PRIVATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = keys.load_or_create(tmp_path / "audit")
    assert again.kid == first.kid
    public = keys.load_public_pem((tmp_path / "audit" / keys.PUBLIC_FILE).read_text())
    assert keys.key_id(public) == first.kid


def test_a_non_ed25519_public_key_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    text = p256.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError):
        keys.load_public_pem(text.decode())

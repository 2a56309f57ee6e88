"""Signed checkpoints: every N records or T seconds, a statement over a range of the chain.

A checkpoint is {first_seq, last_seq, merkle_root, last_hash, time, kid, tree_root}; the signature is
Ed25519 over the RFC 8785 canonical JSON of exactly those fields. The Merkle root is RFC 6962's over
the range's record hashes (32 bytes each), so one record's inclusion can be proved with log2(n) hashes.
`tree_root` is the root of the log-wide tree, every record from seq 1 to last_seq (its size): the tree
the witness follows with consistency proofs (exchange/audit/witness.py). Checkpoints signed before it
existed lack it and are signed over the other six fields.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exchange.audit import merkle
from exchange.audit.keys import AuditKeyPair, unb64url

SIGNED_FIELDS = ("first_seq", "last_seq", "merkle_root", "last_hash", "time", "kid")
TREE_SIGNED_FIELDS = (*SIGNED_FIELDS, "tree_root")


def leaves(hashes: Sequence[str]) -> list[bytes]:
    """The Merkle leaf hashes of a range of record hashes (hex)."""
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in hashes]


def merkle_root(hashes: Sequence[str]) -> str:
    """The RFC 6962 root (hex) over a range of record hashes."""
    return merkle.root_from_leaf_hashes(leaves(hashes)).hex()


def signed_bytes(checkpoint: Mapping[str, Any], *, with_tree: bool | None = None) -> bytes:
    """What the audit key signs: the six fields, and tree_root when the checkpoint has one."""
    tree = checkpoint.get("tree_root") is not None if with_tree is None else with_tree
    return rfc8785.dumps({f: checkpoint[f] for f in (TREE_SIGNED_FIELDS if tree else SIGNED_FIELDS)})


def make(
    *,
    first_seq: int,
    last_seq: int,
    hashes: Sequence[str],
    time: str,
    key: AuditKeyPair,
    tree_root: str | None = None,
) -> dict[str, Any]:
    """A signed checkpoint over records first_seq..last_seq whose hashes are given in order."""
    if len(hashes) != last_seq - first_seq + 1 or not hashes:
        raise ValueError("a checkpoint needs exactly one hash per record of its range")
    body: dict[str, Any] = {
        "first_seq": first_seq,
        "last_seq": last_seq,
        "merkle_root": merkle_root(hashes),
        "last_hash": hashes[-1],
        "time": time,
        "kid": key.kid,
    }
    if tree_root is not None:
        body["tree_root"] = tree_root
    body["signature"] = key.sign(signed_bytes(body))
    return body


def _verifies(checkpoint: Mapping[str, Any], public: Ed25519PublicKey, *, with_tree: bool) -> bool:
    try:
        public.verify(unb64url(checkpoint["signature"]), signed_bytes(checkpoint, with_tree=with_tree))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def signature_ok(checkpoint: Mapping[str, Any], public: Ed25519PublicKey) -> bool:
    """Whether the checkpoint's signature is the audit key's over its fields.

    A signature over the six fields alone also counts (a checkpoint from before tree_root, or one whose
    tree_root someone else added): such a tree_root is unsigned, and `tree_signed` says so.
    """
    if checkpoint.get("tree_root") is not None and _verifies(checkpoint, public, with_tree=True):
        return True
    return _verifies(checkpoint, public, with_tree=False)


def tree_signed(checkpoint: Mapping[str, Any], public: Ed25519PublicKey) -> bool:
    """Whether the audit key signed this checkpoint's tree_root (what a witness needs)."""
    return checkpoint.get("tree_root") is not None and _verifies(checkpoint, public, with_tree=True)


def inclusion_proof(hashes: Sequence[str], index: int) -> list[str]:
    """The audit path (hex) of the record at `index` of a checkpoint's range."""
    return [h.hex() for h in merkle.inclusion_proof(leaves(hashes), index)]


def proof_ok(record_hash: str, index: int, size: int, path: Sequence[str], root: str) -> bool:
    """Check one record's inclusion in a checkpoint's Merkle root."""
    try:
        return merkle.verify_inclusion(
            merkle.leaf_hash(bytes.fromhex(record_hash)),
            index,
            size,
            [bytes.fromhex(p) for p in path],
            bytes.fromhex(root),
        )
    except ValueError:
        return False

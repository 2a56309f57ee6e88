"""RFC 9162 §2.1.4 consistency proofs: reference vectors, the RFC's edge cases, a brute-force check."""

import hashlib
import random

import pytest

from exchange.audit import merkle

# The RFC 6962 reference inputs (certificate-transparency test data), as in test_audit_merkle.py.
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        *("", "00", "10", "2021", "3031", "40414243"),
        *("5051525354555657", "606162636465666768696a6b6c6d6e6f"),
    )
]
# Consistency proofs of the certificate-transparency reference tests: (old size, new size) -> proof.
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
EMPTY = hashlib.sha256(b"").digest()


def leaves_of(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def brute_root(leaves: list[bytes]) -> bytes:
    """MTH written out as RFC 9162 §2.1.1 states it, recursively."""
    if not leaves:
        return EMPTY
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(brute_root(leaves[:k]), brute_root(leaves[k:]))


def brute_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF of RFC 9162 §2.1.4.1 over explicit lists, independently of the module."""
    n = len(leaves)
    if m == n:
        return [] if whole else [brute_root(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*brute_subproof(m, leaves[:k], whole), brute_root(leaves[k:])]
    return [*brute_subproof(m - k, leaves[k:], False), brute_root(leaves[:k])]


@pytest.mark.parametrize(("old", "new"), sorted(CT_CONSISTENCY))
def test_proofs_match_the_reference_vectors(old: int, new: int) -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_ENTRIES[:new]]
    proof = merkle.consistency_proof(leaves, old)
    assert [p.hex() for p in proof] == CT_CONSISTENCY[(old, new)]
    assert merkle.verify_consistency(old, brute_root(leaves[:old]), new, brute_root(leaves), proof)


def test_every_pair_of_sizes_up_to_33_matches_the_brute_force_and_verifies() -> None:
    all_leaves = leaves_of(33)
    for n in range(1, 34):
        leaves = all_leaves[:n]
        new_root = brute_root(leaves)
        for m in range(1, n):
            proof = merkle.consistency_proof(leaves, m)
            assert proof == brute_subproof(m, leaves, True), (m, n)
            old_root = brute_root(leaves[:m])
            assert merkle.verify_consistency(m, old_root, n, new_root, proof)
            # From the old tree's frontier and the new leaves only: the same proof.
            frontier = merkle.Frontier().extend(leaves[:m])
            assert frontier.root() == old_root
            assert merkle.consistency_proof_from(frontier, leaves[m:]) == proof
            # Anything else is refused: another old root, another new root, a changed or short proof.
            assert not merkle.verify_consistency(m, new_root, n, new_root, proof) or m == n
            assert not merkle.verify_consistency(m, old_root, n, old_root, proof)
            assert not merkle.verify_consistency(m, old_root, n, new_root, [bytes(32), *proof[1:]])
            assert not merkle.verify_consistency(m, old_root, n, new_root, proof[:-1])
            # (The sizes are not bound by the proof itself, as in RFC 9162: a checkpoint signs its size.)


def test_a_rewritten_prefix_is_not_consistent() -> None:
    leaves = leaves_of(20)
    forged = list(leaves)
    forged[5] = merkle.leaf_hash(b"rewritten")
    for m in (1, 4, 6, 8, 13):
        old_root = brute_root(leaves[:m])
        proof = merkle.consistency_proof(forged, m)
        assert not merkle.verify_consistency(m, old_root, 20, brute_root(forged), proof) or m <= 5


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 7, 12])
def test_old_size_zero_and_equal_sizes(n: int) -> None:
    leaves = leaves_of(n)
    root = brute_root(leaves)
    assert merkle.consistency_proof(leaves, 0) == []
    assert merkle.consistency_proof(leaves, n) == []
    assert merkle.verify_consistency(0, EMPTY, n, root, [])
    assert not merkle.verify_consistency(0, root, n, root, [])  # the empty tree has the empty root
    assert not merkle.verify_consistency(0, EMPTY, n, root, [root])
    assert merkle.verify_consistency(n, root, n, root, [])
    assert not merkle.verify_consistency(n, root, n, bytes(32), [])
    assert not merkle.verify_consistency(n, root, n, root, [root])


@pytest.mark.parametrize(("m", "n"), [(1, 2), (2, 4), (4, 8), (8, 16), (4, 16), (2, 32), (16, 17)])
def test_power_of_two_old_sizes_omit_the_old_root_from_the_proof(m: int, n: int) -> None:
    leaves = leaves_of(n)
    proof = merkle.consistency_proof(leaves, m)
    assert brute_root(leaves[:m]) not in proof  # the verifier prepends it itself (§2.1.4.2 step 2)
    assert merkle.verify_consistency(m, brute_root(leaves[:m]), n, brute_root(leaves), proof)


def test_a_proof_backwards_or_from_a_larger_tree_is_refused() -> None:
    leaves = leaves_of(8)
    with pytest.raises(ValueError):
        merkle.consistency_proof(leaves, 9)
    assert not merkle.verify_consistency(8, brute_root(leaves), 5, brute_root(leaves[:5]), [])


def test_the_frontier_matches_the_tree_at_random_sizes() -> None:
    rng = random.Random(9162)
    leaves = leaves_of(600)
    f = merkle.Frontier()
    for i, leaf in enumerate(leaves, start=1):
        f.append(leaf)
        if i in (1, 2, 3, 255, 256, 257, 600) or rng.random() < 0.02:
            assert f.root() == merkle.root_from_leaf_hashes(leaves[:i]) == brute_root(leaves[:i])
            assert merkle.Frontier.from_json(f.to_json()).root() == f.root()
    for _ in range(40):
        n = rng.randint(2, 600)
        m = rng.randint(1, n - 1)
        base = merkle.Frontier().extend(leaves[:m])
        proof = merkle.consistency_proof_from(base, leaves[m:n])
        assert merkle.verify_consistency(m, base.root(), n, brute_root(leaves[:n]), proof)
    with pytest.raises(ValueError):
        merkle.Frontier(3, [bytes(32)])

"""RFC 6962 Merkle trees: the Certificate Transparency reference vectors, and every proof of many sizes."""

import hashlib

import pytest

from exchange.audit import merkle

# RFC 6962 reference inputs and tree heads for sizes 0..8 (certificate-transparency test data).
CT_ENTRIES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PROOFS = {
    0: [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    5: [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}


def reference_root(entries: list[bytes]) -> bytes:
    """RFC 6962 §2.1 written out recursively, independently of the module's iterative version."""
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1 << ((len(entries) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + reference_root(entries[:k]) + reference_root(entries[k:])).digest()


@pytest.mark.parametrize("size", range(len(CT_ROOTS)))
def test_roots_match_the_rfc_6962_reference_vectors(size: int) -> None:
    assert merkle.root(CT_ENTRIES[:size]).hex() == CT_ROOTS[size]


@pytest.mark.parametrize("index", sorted(CT_PROOFS))
def test_inclusion_proofs_match_the_reference_paths(index: int) -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_ENTRIES]
    path = merkle.inclusion_proof(leaves, index)
    assert [p.hex() for p in path] == CT_PROOFS[index]
    assert merkle.verify_inclusion(leaves[index], index, 8, path, bytes.fromhex(CT_ROOTS[8]))


def test_every_proof_of_every_size_up_to_40_verifies_and_nothing_else_does() -> None:
    entries = [bytes([i, i * 7 % 256]) for i in range(40)]
    for size in range(1, 41):
        tree = entries[:size]
        leaves = [merkle.leaf_hash(e) for e in tree]
        root = merkle.root_from_leaf_hashes(leaves)
        assert root == reference_root(tree)
        for i in range(size):
            path = merkle.inclusion_proof(leaves, i)
            assert merkle.verify_inclusion(leaves[i], i, size, path, root)
            other = (i + 1) % size
            if other != i:
                assert not merkle.verify_inclusion(leaves[other], i, size, path, root)
                assert not merkle.verify_inclusion(leaves[i], other, size, path, root)
            if path:
                bad = [bytes(32), *path[1:]]
                assert not merkle.verify_inclusion(leaves[i], i, size, bad, root)
                assert not merkle.verify_inclusion(leaves[i], i, size, path[:-1], root)


def test_a_proof_for_a_leaf_outside_the_tree_is_refused() -> None:
    leaves = [merkle.leaf_hash(e) for e in CT_ENTRIES]
    with pytest.raises(IndexError):
        merkle.inclusion_proof(leaves, 8)
    assert not merkle.verify_inclusion(leaves[0], 8, 8, [], bytes(32))
    assert not merkle.verify_inclusion(leaves[0], -1, 8, [], bytes(32))


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    a, b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    # An interior node can never pass for a leaf of the concatenated children (second-preimage guard).
    assert merkle.node_hash(a, b) != merkle.leaf_hash(a + b)
    assert merkle.node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()

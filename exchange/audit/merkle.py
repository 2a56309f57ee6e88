"""Merkle trees as RFC 6962 §2.1 defines them, with inclusion proofs (§2.1.1) and their check, and
consistency proofs (RFC 9162 §2.1.4) with theirs.

The leaves of an audit checkpoint are the records' hashes (32 bytes each), in seq order. The log-wide
tree that the witness follows has every record from seq 1 as its leaves; a `Frontier` holds it in
O(log n) hashes, so neither a new root nor a consistency proof needs the records before the old size.
"""

import hashlib
from collections.abc import Callable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (RFC 6962's k, for n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves; iterative, so a large range costs no recursion depth."""
    if not leaves:
        return hashlib.sha256(b"").digest()  # RFC 6962: the hash of an empty list is SHA-256("")
    # Combining adjacent pairs level by level, carrying an odd last node up unchanged, builds the
    # same tree as the RFC's recursive split at the largest power of two below n.
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def root(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw entries."""
    return root_from_leaf_hashes([leaf_hash(e) for e in entries])


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 §2.1.1 over leaf hashes: the audit path of leaf `index`."""
    if not 0 <= index < len(leaves):
        raise IndexError("leaf index outside the tree")
    path: list[bytes] = []
    lo, hi, m = 0, len(leaves), index
    # Walk down from the root, recording the sibling subtree's hash; the RFC lists them leaf-up.
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(root_from_leaf_hashes(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(root_from_leaf_hashes(leaves[lo : lo + k]))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    """Check an audit path (RFC 9162 §2.1.3.2 algorithm, which accepts RFC 6962 paths)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


RangeHash = Callable[[int, int], bytes]


def _subproof(m: int, lo: int, hi: int, whole: bool, mth: RangeHash) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) of RFC 9162 §2.1.4.1 (m relative to lo)."""
    n = hi - lo
    if m == n:
        return [] if whole else [mth(lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, lo, lo + k, whole, mth), mth(lo + k, hi)]
    return [*_subproof(m - k, lo + k, hi, False, mth), mth(lo, lo + k)]


def _proof(old_size: int, new_size: int, mth: RangeHash) -> list[bytes]:
    if not 0 <= old_size <= new_size:
        raise ValueError("a consistency proof goes from a smaller tree to a larger one")
    if old_size in (0, new_size):
        return []  # the empty tree is a prefix of every tree; a tree is consistent with itself
    return _subproof(old_size, 0, new_size, True, mth)


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 over leaf hashes: that D[0:m] is a prefix of D[0:n]."""
    return _proof(old_size, len(leaves), lambda lo, hi: root_from_leaf_hashes(leaves[lo:hi]))


class Frontier:
    """The log-wide tree of `size` leaves as the roots of its complete subtrees, largest first.

    They are the subtrees of size's binary decomposition (a "compact range" from 0): enough to compute
    the root, to append, and to prove consistency from this size without the leaves before it.
    """

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError(f"a frontier of {size} leaves has {size.bit_count()} nodes, not {len(nodes)}")
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash, merging equal subtrees as a binary counter carries."""
        self.nodes.append(leaf)
        self.size += 1
        carry = self.size
        while not carry & 1:
            right = self.nodes.pop()
            self.nodes[-1] = node_hash(self.nodes[-1], right)
            carry >>= 1

    def extend(self, leaves: Sequence[bytes]) -> "Frontier":
        """Append leaf hashes in order; returns self."""
        for leaf in leaves:
            self.append(leaf)
        return self

    def copy(self) -> "Frontier":
        """An independent copy."""
        return Frontier(self.size, self.nodes)

    def root(self) -> bytes:
        """MTH of the whole tree: node(first subtree, MTH(the rest)), so a fold from the right."""
        if not self.nodes:
            return hashlib.sha256(b"").digest()
        r = self.nodes[-1]
        for h in reversed(self.nodes[:-1]):
            r = node_hash(h, r)
        return r

    def spans(self) -> list[tuple[int, int, bytes]]:
        """(start, end, hash) of each complete subtree."""
        out, start = [], 0
        for bit, h in zip(_bits_high_first(self.size), self.nodes, strict=True):
            out.append((start, start + bit, h))
            start += bit
        return out

    def to_json(self) -> dict[str, object]:
        """{size, nodes (hex)}: what a checkpoint row and a bundle keep."""
        return {"size": self.size, "nodes": [h.hex() for h in self.nodes]}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> "Frontier":
        """Inverse of to_json; ValueError if malformed."""
        size, nodes = data.get("size"), data.get("nodes")
        if not isinstance(size, int) or not isinstance(nodes, list):
            raise ValueError("a frontier is {size, nodes}")
        return cls(size, [bytes.fromhex(str(h)) for h in nodes])


def _bits_high_first(n: int) -> list[int]:
    return [1 << b for b in range(n.bit_length() - 1, -1, -1) if n >> b & 1]


def consistency_proof_from(frontier: Frontier, new_leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) from the frontier of the old tree (size m) and the leaf hashes after it.

    Every node of the proof that lies before m is a subtree of the old frontier or their fold (the
    RFC's recursion walks along the boundary at m); every other one is made of new leaves.
    """
    m = frontier.size
    spans = frontier.spans()

    def mth(lo: int, hi: int) -> bytes:
        if lo >= m:
            return root_from_leaf_hashes(new_leaves[lo - m : hi - m])
        if hi <= m:
            covering = [h for s, e, h in spans if lo <= s and e <= hi]
            if sum(e - s for s, e, _ in spans if lo <= s and e <= hi) != hi - lo:
                raise ValueError(f"the range {lo}..{hi} is not made of the old tree's subtrees")
            r = covering[-1]
            for h in reversed(covering[:-1]):
                r = node_hash(h, r)
            return r
        k = _split(hi - lo)
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    return _proof(m, m + len(new_leaves), mth)


def verify_consistency(
    old_size: int, old_root: bytes, new_size: int, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree (old_size, old_root) is a prefix of (new_size, new_root).

    RFC 9162 §2.1.4.2; a size-0 old tree (the empty root) and equal sizes (equal roots, empty proof)
    are the edge cases the RFC leaves to the client.
    """
    if not 0 <= old_size <= new_size:
        return False
    if old_size == 0:
        return not proof and old_root == hashlib.sha256(b"").digest()
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is itself a proof node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
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
    return sn == 0 and fr == old_root and sr == new_root

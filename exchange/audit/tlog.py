"""The log's side of witnessing: its newest tree, consistency proofs, and co-signatures to keep.

What the gateway's `/v1/audit/checkpoints/...` and `/v1/audit/consistency` routes serve. Nothing here
is trusted by the witness or the verifier: they check every signature and proof themselves.
"""

import json
from typing import Any

from sqlalchemy import Engine, select, update

from exchange.audit import checkpoint, cosignature, merkle, store
from exchange.audit.keys import fingerprint, load_public_pem
from protocol.errors import InvalidRequest, NotFound

CP, E = store.CP, store.E


def _with_tree(cp: dict[str, Any], cosigs: list[dict[str, Any]], pem: str | None) -> dict[str, Any]:
    return {**cp, "tree_size": cp["last_seq"], "cosignatures": cosigs, "public_key_pem": pem}


def latest(*, engine: Engine, origin: str) -> dict[str, Any]:
    """The newest checkpoint with a log-wide tree root, its co-signatures and its audit public key."""
    with engine.connect() as conn:
        row = conn.execute(
            select(CP).where(CP.c.tree_root.is_not(None)).order_by(CP.c.last_seq.desc()).limit(1)
        ).first()
        if row is None:
            raise NotFound("no checkpoint with a log-wide tree root yet")
        cp = store.checkpoint_from_row(row)
        pem = conn.execute(select(store.KEYS.c.public_key_pem).where(store.KEYS.c.kid == cp["kid"])).scalar()
        cosigs = store.cosignatures_of(conn, [cp["last_seq"]]).get(cp["last_seq"], [])
    return {"origin": origin, "checkpoint": _with_tree(cp, cosigs, pem)}


def consistency(*, engine: Engine, first: int, second: int) -> dict[str, Any]:
    """RFC 9162 consistency proof from the tree of size `first` to the checkpoint of size `second`."""
    if not 0 <= first <= second:
        raise InvalidRequest("a consistency proof goes from a smaller tree to a larger one (from <= to)")
    with engine.connect() as conn:
        to_cp = conn.execute(select(CP.c.tree_root).where(CP.c.last_seq == second)).scalar()
        if to_cp is None:
            raise NotFound(f"no checkpoint of tree size {second} with a tree root")
        # Only from a size the log kept a frontier for (a checkpoint's or an archive's): any reader may
        # ask, and rebuilding an arbitrary size would read the whole log.
        frontier = store.frontier_at(conn, first, rebuild=False)
        hashes = list(
            conn.execute(select(E.hash).where(E.seq > first, E.seq <= second).order_by(E.seq)).scalars()
        )
    if frontier is None or len(hashes) != second - first:
        raise NotFound(f"the log holds no tree of size {first} that reaches size {second}")
    proof = merkle.consistency_proof_from(frontier, checkpoint.leaves(hashes))
    return {"from": first, "to": second, "proof": [p.hex() for p in proof]}


def add_cosignature(*, engine: Engine, size: int, cosig: dict[str, Any], origin: str) -> dict[str, Any]:
    """Keep a witness's co-signature of the checkpoint of tree size `size`, once it verifies."""
    with engine.begin() as conn:
        root = conn.execute(select(CP.c.tree_root).where(CP.c.last_seq == size)).scalar()
        if root is None:
            raise NotFound(f"no checkpoint of tree size {size} with a tree root")
        try:
            public = load_public_pem(cosig["public_key_pem"])
        except ValueError as exc:
            raise InvalidRequest("the witness key is not an Ed25519 public key (PEM)") from exc
        if cosig["origin"] != origin:
            raise InvalidRequest(f"the co-signature names origin {cosig['origin']!r}, this log is {origin!r}")
        if not cosignature.signature_ok(cosig, public, size=size, root=root):
            raise InvalidRequest(
                f"the co-signature does not verify for the tree of size {size} this log holds"
            )
        witness = fingerprint(public)
        kept = {
            "witness": witness,
            "public_key_pem": cosig["public_key_pem"],
            "origin": origin,
            "timestamp": int(cosig["timestamp"]),
            "signature": cosig["signature"],
        }
        # One per witness key: a witness handing its co-signature back again replaces its own.
        others = [c for c in store.cosignatures_of(conn, [size]).get(size, []) if c["witness"] != witness]
        both = sorted([*others, kept], key=lambda c: str(c["witness"]))
        conn.execute(update(CP).where(CP.c.last_seq == size).values(cosignatures=json.dumps(both)))
    return {"checkpoint": size, **{k: kept[k] for k in ("witness", "origin", "timestamp", "signature")}}

"""Helpers of the audit tests: the pinned key a verifier trusts."""

from pathlib import Path
from typing import Any

from exchange.audit import keys


def pins(key_dir: Path) -> keys.PinnedKeys:
    """Pin the audit key of key_dir (created there if missing), as an officer pins the sealer's key."""
    return keys.PinnedKeys.of(keys.load_or_create(key_dir).public)


# The witness (exchange/audit/witness.py) and a log it can follow without HTTP (tests/exchange/audit).


class DbLog:
    """The log side of witnessing called directly (exchange/audit/tlog.py), as the API serves it."""

    def __init__(self, engine: Any, origin: str = "shuyuan-audit") -> None:
        self.engine = engine
        self.origin = origin
        self.refusals: list[tuple[int, dict[str, Any]]] = []

    def latest(self) -> dict[str, Any]:
        from exchange.audit import tlog

        return tlog.latest(engine=self.engine, origin=self.origin)

    def consistency(self, first: int, second: int) -> list[str] | None:
        from exchange.audit import tlog
        from protocol.errors import NotFound

        try:
            return list(tlog.consistency(engine=self.engine, first=first, second=second)["proof"])
        except NotFound:
            return None

    def cosign(self, size: int, cosig: dict[str, Any]) -> None:
        from exchange.audit import tlog

        tlog.add_cosignature(engine=self.engine, size=size, cosig=cosig, origin=self.origin)

    def refuse(self, size: int, refusal: dict[str, Any]) -> None:
        self.refusals.append((size, refusal))


def denials(ids: range, *, department: str = "zjj") -> list[Any]:
    """Denials of a department's queries, as the query flow records them."""
    from exchange.audit import records
    from exchange.audit.events import AuditAction

    return [
        records.query_step(
            AuditAction.ELEMENT_DECIDED,
            gateway="gw-0",
            department=department,
            subject_index=f"{i:064x}",
            elements=["person.si_contribution_base"],
            service_item="330100-GZF-001",
            case_no=f"CASE-{i}",
            decision="deny",
            reason="no_agreement",
            request_id=f"q-{i:010d}",
        )
        for i in ids
    ]


SIGNED_COLUMNS = ("merkle_root", "last_hash", "tree_root", "kid", "signature", "last_seq")


def resign_history(engine: Any, key: keys.AuditKeyPair, *, seq: int) -> None:
    """A DBA holding the (stolen) audit key: change record `seq`, re-chain, and re-sign every checkpoint
    with correct Merkle roots, log-wide tree roots and frontiers, so the database is consistent again."""
    import json

    from sqlalchemy import select, text

    from exchange.audit import chain, checkpoint, merkle, store

    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_entry SET decision = 'allow', reason = NULL WHERE seq = :s"), {"s": seq}
        )
        rows = [
            store.record_from_row(r) for r in conn.execute(select(store.AuditEntry).order_by(text("seq")))
        ]
        prev = rows[seq - 2]["hash"] if seq > 1 else "0" * 64
        for r in rows[seq - 1 :]:
            sealed = chain.seal({k: v for k, v in r.items() if k != "hash"}, seq=r["seq"], prev_hash=prev)
            prev = sealed["hash"]
            conn.execute(
                text("UPDATE audit_entry SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": sealed["prev_hash"], "h": sealed["hash"], "s": r["seq"]},
            )
            r.update(sealed)
        hashes = {r["seq"]: r["hash"] for r in rows}
        tree = merkle.Frontier()
        cps = conn.execute(
            select(store.CP.c.first_seq, store.CP.c.last_seq, store.CP.c.time).order_by(text("first_seq"))
        )
        for first, last, when in cps.all():
            span = [hashes[s] for s in range(first, last + 1)]
            tree.extend(checkpoint.leaves(span))
            cp = checkpoint.make(
                first_seq=first, last_seq=last, hashes=span, time=chain.format_time(when), key=key,
                tree_root=tree.root().hex(),
            )  # fmt: skip
            conn.execute(
                text(
                    "UPDATE audit_checkpoint SET merkle_root = :merkle_root, last_hash = :last_hash, "
                    "tree_root = :tree_root, frontier = :frontier, kid = :kid, signature = :signature "
                    "WHERE last_seq = :last_seq"
                ),
                {**{k: cp[k] for k in SIGNED_COLUMNS}, "frontier": json.dumps(tree.to_json())},
            )
        conn.execute(text("UPDATE audit_chain_head SET hash = :h"), {"h": prev})


def truncate(engine: Any, *, after: int) -> None:
    """A DBA cutting the log's tail: records, checkpoints and co-signatures after seq `after`."""
    from sqlalchemy import text

    with engine.begin() as conn:
        last_hash = conn.execute(text("SELECT hash FROM audit_entry WHERE seq = :s"), {"s": after}).scalar()
        conn.execute(text("DELETE FROM audit_entry WHERE seq > :s"), {"s": after})
        conn.execute(text("DELETE FROM audit_checkpoint WHERE last_seq > :s"), {"s": after})
        conn.execute(
            text("UPDATE audit_chain_head SET seq = :s, hash = :h, checkpoint_seq = :s"),
            {"s": after, "h": last_hash},
        )

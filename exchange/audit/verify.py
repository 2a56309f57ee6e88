"""`shuyuan audit verify BUNDLE`: check an export offline — no database, no network.

Checks every checkpoint's signature against a pinned audit key (given by the officer or configured,
never a key shipped in the bundle: docs/audit.md), the chain (each record's hash over its content, each
prev_hash against the record before it, seq order), each checkpoint's Merkle root (complete bundles)
or each record's inclusion proof (filtered bundles), and the CSV copy against the JSON Lines. It
stops at the first broken record and names it by seq.

With a pinned witness key it also checks that the bundle's newest tree carries the witness's
co-signature (itself, or through a consistency proof to a newer co-signed one), and, given the
witness's latest statement, that the bundle is consistent with it: a cut tail or a rewritten history
that the witness saw before is then found in the bundle alone (docs/audit.md, "Witness").
"""

import csv
import io
import json
import zipfile
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

from exchange.audit import bundle, chain, checkpoint, cosignature, merkle
from exchange.audit.keys import PinnedKeys, fingerprint, load_public_pem


class Broken(Exception):
    """The first thing found wrong, with the seq of the record it concerns when there is one."""

    def __init__(self, message: str, seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq


@dataclass
class Report:
    """What verification found."""

    ok: bool
    records: int = 0
    checkpoints: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    anchor: str | None = None
    complete: bool = True
    problem: str | None = None
    broken_seq: int | None = None
    notes: list[str] = field(default_factory=list)
    trusted: list[str] = field(default_factory=list)  # fingerprints of the pinned keys that signed
    last_checkpoint: dict[str, Any] | None = None  # to compare with a published one (tail truncation)
    witnessed: str | None = None  # "size N by SHA256:..." when a pinned witness co-signed the bundle's tree
    tree_roots: dict[int, str] = field(default_factory=dict)  # log-wide roots recomputed from the records


@dataclass(frozen=True)
class WitnessCheck:
    """What the verifier asks of the witness: its pinned key(s) and, optionally, its latest statement.

    `latest` is the witness's state file (exchange/audit/witness.py): the last tree it co-signed, with
    its co-signature, which is checked against the pinned key like any other.
    """

    keys: PinnedKeys
    latest: dict[str, Any] | None = None


class _Bundle:
    """Read access to a bundle that is a ZIP file or an unpacked directory."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path) if path.is_file() else None
        self._dir = path

    def names(self) -> list[str]:
        if self._zip is not None:
            return self._zip.namelist()
        return [str(p.relative_to(self._dir)) for p in self._dir.rglob("*") if p.is_file()]

    def open(self, name: str) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(name)
        return (self._dir / name).open("rb")

    def text(self, name: str) -> str:
        with self.open(name) as f:
            return f.read().decode()

    def lines(self, name: str) -> Iterator[tuple[int, str]]:
        with self.open(name) as f:
            for number, raw in enumerate(io.TextIOWrapper(f, encoding="utf-8"), start=1):
                if raw.strip():
                    yield number, raw

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def verify_bundle(
    path: Path,
    *,
    pinned: PinnedKeys,
    seen: Sequence[dict[str, Any]] = (),
    progress: Callable[[int], None] | None = None,
    witness: WitnessCheck | None = None,
) -> Report:
    """Verify one bundle against the pinned audit keys; the report names the first broken record.

    `seen`: checkpoints the officer saw before (an earlier export, a published one): a complete
    bundle must still hold each of them unchanged, so a cut tail or a rewritten range is found.
    `witness`: require the pinned witness's co-signature, and consistency with its latest statement.
    """
    report = Report(ok=False)
    if not pinned:
        report.problem = "no pinned audit key: the keys a bundle ships prove nothing about who signed it"
        return report
    try:
        b = _Bundle(path)
    except (OSError, zipfile.BadZipFile) as exc:
        report.problem = f"not a readable bundle: {exc}"
        return report
    try:
        want = {int(witness.latest["size"])} if witness is not None and witness.latest else set()
        cps = _verify(b, report, pinned, progress, want)
        _check_seen(b, report, pinned, seen)
        if witness is not None:
            _check_witness(b, report, pinned, cps, witness)
        report.ok = True
    except Broken as exc:
        report.problem, report.broken_seq = str(exc), exc.seq
    except (KeyError, FileNotFoundError) as exc:
        report.problem = f"the bundle lacks a part: {exc}"
    finally:
        b.close()
    return report


def _verify(
    b: _Bundle,
    report: Report,
    pinned: PinnedKeys,
    progress: Callable[[int], None] | None,
    want: AbstractSet[int],
) -> list[dict[str, Any]]:
    manifest = json.loads(b.text(bundle.MANIFEST))
    if manifest.get("format") != bundle.FORMAT or manifest.get("version") != bundle.VERSION:
        raise Broken("not a Shuyuan audit bundle of a known version")
    report.complete = bool(manifest.get("complete"))
    keys = {
        Path(n).stem: load_public_pem(b.text(n))
        for n in b.names()
        if n.startswith(bundle.KEYS_DIR) and n.endswith(".pem")
    }
    cps = [json.loads(line) for _, line in b.lines(bundle.CHECKPOINTS)]
    cps.sort(key=lambda c: c["first_seq"])
    trusted: set[str] = set()
    for cp in cps:
        # The bundle's own key must verify its checkpoint (else the bundle was altered) and must be
        # pinned (else someone else signed it); a bundle lacking the key is checked with the pin.
        key = keys.get(cp["kid"]) or pinned.by_kid(cp["kid"])
        if key is None:
            raise Broken(f"checkpoint {_span(cp)} is signed with key {cp['kid']!r}, which the bundle lacks")
        if not checkpoint.signature_ok(cp, key):
            raise Broken(f"checkpoint {_span(cp)}: the signature does not verify (checkpoint altered)")
        if cp.get("tree_root") is not None and not checkpoint.tree_signed(cp, key):
            cp.pop("tree_root")  # not signed with the checkpoint: proves nothing, so it is not used
        if not pinned.trusts(key):
            raise Broken(
                f"checkpoint {_span(cp)} is signed by key {fingerprint(key)} (kid {cp['kid']}), which is not "
                f"the pinned audit key ({', '.join(pinned.trusted())}): re-signed by someone else",
                cp["first_seq"],
            )
        trusted.add(fingerprint(key))
    report.checkpoints = len(cps)
    report.trusted = sorted(trusted) or pinned.trusted()
    report.last_checkpoint = {k: v for k, v in cps[-1].items() if k != "cosignatures"} if cps else None
    for earlier, later in pairwise(cps):
        if later["first_seq"] <= earlier["last_seq"]:
            raise Broken(f"checkpoints {_span(earlier)} and {_span(later)} overlap")
    if report.complete:
        _verify_complete(b, cps, report, progress, want)
    else:
        _verify_filtered(b, cps, report, progress)
    if bundle.RECORDS_CSV in b.names():
        _verify_csv(b)
    if manifest.get("records") != report.records:
        raise Broken(
            f"the manifest announces {manifest.get('records')} records, the bundle holds {report.records}"
        )
    return cps


def _check_seen(b: _Bundle, report: Report, pinned: PinnedKeys, seen: Sequence[dict[str, Any]]) -> None:
    """Each checkpoint seen before, signed by a pinned key, must be in a complete bundle unchanged."""
    if not seen:
        return
    if not report.complete:
        report.notes.append("filtered bundle: checkpoints seen before are checked on complete bundles only")
        return
    keys = {Path(n).stem: load_public_pem(b.text(n)) for n in b.names() if n.startswith(bundle.KEYS_DIR)}
    held = {
        (c["first_seq"], c["last_seq"]): c
        for _, line in b.lines(bundle.CHECKPOINTS)
        if (c := json.loads(line))
    }
    for cp in sorted(seen, key=lambda c: c["last_seq"]):
        key = pinned.by_kid(cp["kid"]) or keys.get(cp["kid"])
        if key is None or not pinned.trusts(key) or not checkpoint.signature_ok(cp, key):
            raise Broken(f"the checkpoint {_span(cp)} given as seen is not signed by the pinned audit key")
        last = report.last_seq or 0
        if cp["last_seq"] > last:
            raise Broken(
                f"the bundle ends at seq {last}, but checkpoint {_span(cp)} was signed before: "
                f"the log was truncated (record seq {last + 1} onwards is missing)",
                last + 1,
            )
        if report.first_seq is None or cp["first_seq"] < report.first_seq:
            continue  # archived before this bundle begins
        mine = held.get((cp["first_seq"], cp["last_seq"]))
        if mine is None or mine["merkle_root"] != cp["merkle_root"] or mine["last_hash"] != cp["last_hash"]:
            raise Broken(
                f"checkpoint {_span(cp)} seen before is not in the bundle as it was: history rewritten",
                cp["first_seq"],
            )


def _cosigned_by(cp: dict[str, Any], keys: PinnedKeys) -> tuple[dict[str, Any], str] | None:
    """A co-signature of cp's (signed) tree by a pinned witness key, with that key's fingerprint."""
    if cp.get("tree_root") is None:
        return None
    for cosig in cp.get("cosignatures") or []:
        key = cosignature.pinned_signer(cosig, keys, size=cp["last_seq"], root=cp["tree_root"])
        if key is not None:
            return cosig, fingerprint(key)
    return None


def _tip(b: _Bundle, pinned: PinnedKeys, newest: dict[str, Any]) -> dict[str, Any] | None:
    """witness.json's newer checkpoint, once its audit signature and the consistency proof to it verify."""
    if bundle.WITNESS not in b.names() or newest.get("tree_root") is None:
        return None
    part = json.loads(b.text(bundle.WITNESS))
    tip, proof = part["checkpoint"], part["consistency"]
    shipped = {Path(n).stem: load_public_pem(b.text(n)) for n in b.names() if n.startswith(bundle.KEYS_DIR)}
    key = pinned.by_kid(tip["kid"]) or shipped.get(tip["kid"])
    if key is None or not pinned.trusts(key) or not checkpoint.tree_signed(tip, key):
        raise Broken(f"the newer checkpoint in {bundle.WITNESS} is not signed by the pinned audit key")
    first, second = newest["last_seq"], tip["last_seq"]
    nodes = [bytes.fromhex(p) for p in proof.get("proof", [])]
    if (proof.get("from"), proof.get("to")) != (first, second) or not merkle.verify_consistency(
        first, bytes.fromhex(newest["tree_root"]), second, bytes.fromhex(tip["tree_root"]), nodes
    ):
        raise Broken(
            f"the bundle's tree of size {first} is not consistent with the log's co-signed tree of size "
            f"{second} ({bundle.WITNESS}): history rewritten",
            newest["first_seq"],
        )
    return dict(tip)


def _check_witness(
    b: _Bundle, report: Report, pinned: PinnedKeys, cps: list[dict[str, Any]], witness: WitnessCheck
) -> None:
    """The bundle's newest tree is co-signed by the pinned witness and consistent with its latest."""
    if not cps:
        report.notes.append("no checkpoint in the bundle: nothing for the witness to have co-signed")
        return
    newest = cps[-1]
    if newest.get("tree_root") is None:
        raise Broken(
            f"checkpoint {_span(newest)} has no log-wide tree root that can be checked, so no witness "
            "co-signature can cover it",
            newest["first_seq"],
        )
    # The newest co-signed tree the bundle shows: a newer one from witness.json (proved consistent with
    # the bundle's newest), else the bundle's newest itself.
    tip = _tip(b, pinned, newest)
    at_tip = _cosigned_by(tip, witness.keys) if tip is not None else None
    head, found = (
        (tip, at_tip) if tip is not None and at_tip else (newest, _cosigned_by(newest, witness.keys))
    )
    if found is None:
        raise Broken(
            f"checkpoint {_span(newest)} (tree size {newest['last_seq']}) carries no valid co-signature of "
            f"the pinned witness ({', '.join(witness.keys.trusted())}): not witnessed (yet: run the witness, "
            "or export with --witnessed / ?witnessed=true to end at its newest co-signed checkpoint), or "
            "re-signed after it was",
            newest["first_seq"],
        )
    cosig, by = found
    report.witnessed = f"tree size {head['last_seq']} co-signed by {by}"
    latest = witness.latest
    if latest is None:
        report.notes.append("no witness latest statement given: a tail cut after this bundle is not checked")
        return
    size, root = int(latest["size"]), str(latest["root"])
    if cosignature.pinned_signer(latest, witness.keys, size=size, root=root) is None:
        raise Broken("the witness latest statement given is not signed by the pinned witness key")
    if latest.get("origin") != cosig.get("origin"):
        raise Broken(
            f"the witness statement is of log {latest.get('origin')!r}, "
            f"the bundle's co-signature of {cosig.get('origin')!r}"
        )
    if size > head["last_seq"]:
        raise Broken(
            f"the witness co-signed a tree of {size} records, but the bundle reaches only seq "
            f"{head['last_seq']}: records {head['last_seq'] + 1}..{size} are missing (the log's tail was "
            "cut), or this bundle is older than the witness's statement",
            head["last_seq"] + 1,
        )
    mine = head["tree_root"] if size == head["last_seq"] else report.tree_roots.get(size)
    if mine is not None and mine != root:
        raise Broken(
            f"the bundle's tree of size {size} differs from the one the witness co-signed: history rewritten",
            report.first_seq,
        )
    if mine is None:
        report.notes.append(
            f"the witness's latest tree (size {size}) is not recomputed from this bundle: it is consistent "
            "with the bundle's tree by the witness's own co-signature of the latter"
        )


def _span(cp: dict[str, Any]) -> str:
    return f"seq {cp['first_seq']}..{cp['last_seq']}"


def _records(b: _Bundle, report: Report, progress: Callable[[int], None] | None) -> Iterator[dict[str, Any]]:
    last_seq: int | None = None
    for number, line in b.lines(bundle.RECORDS):
        try:
            record = json.loads(line)
            seq = record["seq"]
        except (ValueError, KeyError, TypeError) as exc:
            after = f" (after seq {last_seq})" if last_seq is not None else ""
            raise Broken(f"line {number} of {bundle.RECORDS} is not a record{after}", last_seq) from exc
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise Broken(f"line {number}: seq is not an integer")
        if record.get("hash") != chain.record_hash(record):
            raise Broken(
                f"record seq {seq}: its content does not match its hash (the record was changed)", seq
            )
        report.records += 1
        report.first_seq = seq if report.first_seq is None else report.first_seq
        report.last_seq = last_seq = seq
        if progress is not None and report.records % 1000 == 0:
            progress(1000)
        yield record
    if progress is not None and report.records % 1000:
        progress(report.records % 1000)


def _anchor(b: _Bundle, cps: list[dict[str, Any]]) -> merkle.Frontier | None:
    """The log-wide tree before the bundle's first record: empty at seq 1, else the shipped frontier."""
    if not cps or cps[0]["first_seq"] == 1:
        return merkle.Frontier()
    if bundle.FRONTIER not in b.names():
        return None
    try:
        tree = merkle.Frontier.from_json(json.loads(b.text(bundle.FRONTIER)))
    except (ValueError, TypeError) as exc:
        raise Broken(f"{bundle.FRONTIER} is not a frontier of the log-wide tree") from exc
    if tree.size != cps[0]["first_seq"] - 1:
        raise Broken(
            f"{bundle.FRONTIER} is the tree of {tree.size} records, not of the records before the bundle"
        )
    return tree


def _verify_complete(
    b: _Bundle,
    cps: list[dict[str, Any]],
    report: Report,
    progress: Callable[[int], None] | None,
    want: AbstractSet[int] = frozenset(),
) -> None:
    for earlier, later in pairwise(cps):
        if later["first_seq"] != earlier["last_seq"] + 1:
            missing = earlier["last_seq"] + 1
            raise Broken(
                f"record seq {missing} is missing: checkpoints jump from {_span(earlier)} to {_span(later)}",
                missing,
            )
    pending = iter(cps)
    cp = next(pending, None)
    hashes: list[str] = []
    prev: dict[str, Any] | None = None
    # The log-wide tree, from the anchor (an unsigned frontier: it proves nothing by itself, but no other
    # frontier and records give the signed tree root without a SHA-256 collision).
    tree = _anchor(b, cps)
    if tree is not None and tree.size in want:
        report.tree_roots[tree.size] = tree.root().hex()
    for record in _records(b, report, progress):
        seq = record["seq"]
        if prev is None:
            report.anchor = record["prev_hash"]
            if cp is not None and seq != cp["first_seq"]:
                raise Broken(
                    f"the bundle starts at seq {seq}, its first checkpoint at seq {cp['first_seq']}", seq
                )
        else:
            _check_link(prev, record)
        if cp is None or seq > cp["last_seq"]:
            raise Broken(f"record seq {seq} is not covered by a signed checkpoint", seq)
        hashes.append(record["hash"])
        if tree is not None:
            tree.append(merkle.leaf_hash(bytes.fromhex(record["hash"])))
            if tree.size in want:
                report.tree_roots[tree.size] = tree.root().hex()
        if seq == cp["last_seq"]:
            root = checkpoint.merkle_root(hashes)
            if root != cp["merkle_root"] or record["hash"] != cp["last_hash"]:
                raise Broken(
                    f"records {_span(cp)} do not match their signed checkpoint (Merkle root differs): "
                    "a record in this range was rewritten",
                    cp["first_seq"],
                )
            if cp.get("tree_root") is not None:
                if tree is None:
                    cp.pop("tree_root")  # cannot be recomputed here (no frontier): not used
                elif tree.root().hex() != cp["tree_root"]:
                    raise Broken(
                        f"the records up to seq {seq} do not give the log-wide tree root checkpoint "
                        f"{_span(cp)} signs: the records before it were rewritten",
                        cp["first_seq"],
                    )
                else:
                    report.tree_roots[seq] = cp["tree_root"]
            hashes = []
            cp = next(pending, None)
        prev = record
    if hashes or cp is not None:
        missing = (prev["seq"] + 1) if prev else (cp["first_seq"] if cp else None)
        raise Broken(
            f"the bundle ends before its last checkpoint does: record seq {missing} is missing", missing
        )


def _check_link(prev: dict[str, Any], record: dict[str, Any]) -> None:
    seq, expected = record["seq"], prev["seq"] + 1
    if seq == expected and record["prev_hash"] == prev["hash"]:
        return
    if seq < expected:
        raise Broken(f"record seq {seq} is out of order or repeated: it follows seq {prev['seq']}", seq)
    if seq > expected:
        raise Broken(
            f"record seq {expected} is missing: the bundle jumps from seq {prev['seq']} to seq {seq}",
            expected,
        )
    raise Broken(
        f"record seq {seq}: prev_hash does not link to record seq {prev['seq']} "
        "(a record was removed, inserted or replaced here)",
        seq,
    )


def _verify_filtered(
    b: _Bundle, cps: list[dict[str, Any]], report: Report, progress: Callable[[int], None] | None
) -> None:
    by_last = {c["last_seq"]: c for c in cps}
    proofs = b.lines(bundle.PROOFS)
    prev: dict[str, Any] | None = None
    for record in _records(b, report, progress):
        seq = record["seq"]
        if prev is not None:
            if seq <= prev["seq"]:
                raise Broken(
                    f"record seq {seq} is out of order or repeated: it follows seq {prev['seq']}", seq
                )
            if seq == prev["seq"] + 1 and record["prev_hash"] != prev["hash"]:
                raise Broken(f"record seq {seq}: prev_hash does not link to record seq {prev['seq']}", seq)
        _, line = next(proofs, (0, "{}"))
        proof = json.loads(line)
        cp = by_last.get(proof.get("checkpoint"))
        if proof.get("seq") != seq or cp is None or not cp["first_seq"] <= seq <= cp["last_seq"]:
            raise Broken(
                f"record seq {seq} has no inclusion proof into a checkpoint of the bundle "
                "(inserted, or moved out of its place)",
                seq,
            )
        size = cp["last_seq"] - cp["first_seq"] + 1
        index = seq - cp["first_seq"]
        if not checkpoint.proof_ok(record["hash"], index, size, proof.get("path", []), cp["merkle_root"]):
            raise Broken(
                f"record seq {seq} is not in signed checkpoint {_span(cp)} (changed, inserted or moved)", seq
            )
        prev = record
    report.notes.append(
        "filtered bundle: each record is proved to be in the signed log; that no other record matched "
        "the filter cannot be proved from a selection"
    )


def _verify_csv(b: _Bundle) -> None:
    with b.open(bundle.RECORDS_CSV) as raw_csv:
        rows = csv.reader(io.TextIOWrapper(raw_csv, encoding="utf-8", newline=""))
        if next(rows, None) != list(chain.RECORD_FIELDS):
            raise Broken(f"{bundle.RECORDS_CSV} does not have the documented columns")
        for (_, line), row in zip(b.lines(bundle.RECORDS), rows, strict=False):
            record = json.loads(line)
            if row != bundle.csv_row_of(record):
                raise Broken(
                    f"{bundle.RECORDS_CSV}: the row of seq {record['seq']} differs from the JSON Lines",
                    record["seq"],
                )
        if next(rows, None) is not None:
            raise Broken(f"{bundle.RECORDS_CSV} holds more rows than {bundle.RECORDS}")


def verify_chain_of_bundles(
    paths: list[Path],
    *,
    pinned: PinnedKeys,
    seen: Sequence[dict[str, Any]] = (),
    witness: WitnessCheck | None = None,
) -> list[Report]:
    """Verify several archive bundles and that each one's first record links to the one before.

    The checkpoints seen before, and the witness, are checked against the last bundle (the newest, e.g.
    what is online): the archives before it are covered by the chain that links them to it.
    """
    last = len(paths) - 1
    reports = [
        verify_bundle(
            p, pinned=pinned, seen=seen if i == last else (), witness=witness if i == last else None
        )
        for i, p in enumerate(paths)
    ]
    for (pa, ra), (pb, rb) in pairwise(zip(paths, reports, strict=True)):
        if ra.ok and rb.ok and rb.anchor is not None and rb.anchor != _last_hash(pa):
            rb.ok = False
            rb.problem = f"{pb.name} does not continue {pa.name}: its first record's prev_hash differs"
            rb.broken_seq = rb.first_seq
    return reports


def _last_hash(path: Path) -> str | None:
    b = _Bundle(path)
    try:
        last = None
        for _, line in b.lines(bundle.RECORDS):
            last = line
        return json.loads(last)["hash"] if last else None
    finally:
        b.close()

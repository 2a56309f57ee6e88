"""A database administrator against the witness (issue 9 item 5, DESIGN.md §12), on the real app.

The witness (`shuyuan audit witness`) follows the gateway's audit API with its own key and state. The
DBA then cuts the tail of the audit table, or rewrites history and re-signs every checkpoint with the
(stolen) audit key, or drops or forges co-signatures. Each attack must be refused: the witness will
not co-sign (and the gateway records its refusal on the chain), and `shuyuan audit verify` with the
pinned witness key and the witness's latest statement names what is wrong.
"""

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from exchange.audit import cosignature, keys
from exchange.audit.cli import audit_app
from exchange.audit.cosignature import WitnessProblem
from exchange.audit.export import ExportFilter, write_bundle
from exchange.audit.settings import AuditSettings
from exchange.audit.witness import HttpLog, Witness, WitnessRefused, load_or_create_key, public_path
from exchange.settings import GatewaySettings
from shuyuan.embedded import Embedded, build_embedded
from tests.auditkit import denials, resign_history, truncate
from tests.authkit import authorize, register_test_system, token_with_key

runner = CliRunner()


@dataclass
class Witnessed:
    """The running app, its witness (own key, own state, own audit:read token) and the officer's files."""

    embedded: Embedded
    client: TestClient
    witness: Witness
    tmp: Path
    audit_pem: Path  # the audit public key as the officer pinned it
    token_file: Path
    written: int = 0

    def seal(self, n: int) -> None:
        """n more records through the gateway's own audit writer, then a checkpoint."""
        state = self.embedded.state
        self.client.portal.call(state.audit_writer.write, denials(range(self.written, self.written + n)))  # type: ignore[union-attr]
        self.written += n
        state.audit_writer.checkpoint_now()  # type: ignore[union-attr]

    @property
    def engine(self) -> Any:
        return self.embedded.state.engine

    def export(self, name: str, f: ExportFilter | None = None) -> Path:
        path = self.tmp / name
        write_bundle(self.engine, f or ExportFilter(), path)
        return path

    def verify(self, path: Path, *extra: str, latest: bool = True) -> Any:
        args = ["verify", str(path), "--audit-key", str(self.audit_pem)]
        args += ["--witness-key", str(public_path(self.tmp / "witness" / "key.pem")), *extra]
        if latest:
            args += ["--witness-latest", str(self.witness.state_path)]
        return runner.invoke(audit_app, args)

    def refusals(self) -> list[tuple[str, str | None, str | None]]:
        """(action, reason, actor_user) of the refusal records on the chain."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT action, reason, actor_user FROM audit_entry "
                    "WHERE action IN ('audit.witness_refused', 'audit.cosignature_refused') ORDER BY seq"
                )
            )
            return [tuple(r) for r in rows]

    def count(self, action: str) -> int:
        """How many records of this action the chain holds."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM audit_entry WHERE action = :a"), {"a": action}
                ).scalar()
                or 0
            )

    def run_cli_witness(self, monkeypatch: pytest.MonkeyPatch) -> Any:
        """`shuyuan audit witness --once` as an operator runs it, its HTTP going to the app under test."""
        monkeypatch.setattr(httpx, "Client", lambda **_: contextlib.nullcontext(self.client))
        return runner.invoke(
            audit_app,
            ["witness", "--url", "http://testserver", "--key", str(self.tmp / "witness" / "key.pem"),
             "--state", str(self.witness.state_path), "--audit-key", str(self.audit_pem),
             "--token-file", str(self.token_file), "--once"],
        )  # fmt: skip


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[Witnessed]:
    audit = AuditSettings(key_dir=tmp_path / "audit-keys", checkpoint_every=10**6, checkpoint_interval_s=3600)
    settings = GatewaySettings(
        database_url=f"sqlite:///{(tmp_path / 'shuyuan.db').resolve()}", transport="memory",
        environment="test", audit=audit,
    )  # fmt: skip
    embedded = build_embedded(tmp_path, settings=settings)
    with TestClient(embedded.app) as client:
        authorize(client)
        # The witness is a system of its own with nothing but audit:read.
        engine = embedded.state.engine
        jwk = register_test_system(engine, client_id="audit-witness", department="zjj", scopes=["audit:read"])
        token = token_with_key(client, jwk, "audit-witness")
        token_file = tmp_path / "witness-token"
        token_file.write_text(token)
        audit_pem = tmp_path / "officer" / "audit.pub.pem"
        audit_pem.parent.mkdir()
        audit_public = embedded.state.settings.audit.signing_pair().public
        audit_pem.write_text(keys.public_pem(audit_public))
        witness = Witness(
            log=HttpLog(client, lambda: token),
            key=load_or_create_key(tmp_path / "witness" / "key.pem"),
            state_path=tmp_path / "witness" / "state.json",
            audit_keys=keys.PinnedKeys.of(audit_public),
        )
        yield Witnessed(embedded, client, witness, tmp_path, audit_pem, token_file)


def test_the_witness_co_signs_the_real_log_and_a_bundle_then_verifies(witnessed: Witnessed) -> None:
    witnessed.seal(20)
    first = witnessed.witness.once()
    witnessed.seal(15)
    second = witnessed.witness.once()
    assert second.previous == first.size and second.size > first.size
    result = witnessed.verify(witnessed.export("good.zip"))
    assert result.exit_code == 0, result.output
    fp = keys.fingerprint(witnessed.witness.public)
    assert f"witness: tree size {second.size} co-signed by {fp}" in result.output
    alone = runner.invoke(
        audit_app, ["verify", str(witnessed.export("good.zip")), "--audit-key", str(witnessed.audit_pem)]
    )
    assert alone.exit_code == 0 and "witness: none checked" in alone.output, alone.output
    with witnessed.engine.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM audit_entry WHERE action = 'audit.cosigned'")).scalar()
    assert kept == 2
    # Over the API as an officer downloads it: the newer checkpoint (holding the co-signing records) waits
    # for the witness's next round, or the bundle ends at the newest co-signed one.
    witnessed.seal(3)
    for query, code in (({}, 1), ({"witnessed": "true"}, 0)):
        download = witnessed.client.get("/v1/audit/bundle", params=query)
        assert download.status_code == 200, download.text
        path = witnessed.tmp / "download.zip"
        path.write_bytes(download.content)
        result = witnessed.verify(path)
        assert result.exit_code == code, (query, result.output)


def test_a_cut_tail_is_refused_by_the_witness_and_found_by_verify(
    witnessed: Witnessed, monkeypatch: pytest.MonkeyPatch
) -> None:
    witnessed.seal(20)
    cut_at = witnessed.witness.once().size
    witnessed.seal(20)
    seen = witnessed.witness.once().size
    truncate(witnessed.engine, after=cut_at)  # the DBA drops what came after the first co-signed tree
    cut = witnessed.export("cut.zip")

    # The audit key alone, and the witness key without its latest statement, cannot see it ...
    plain = runner.invoke(audit_app, ["verify", str(cut), "--audit-key", str(witnessed.audit_pem)])
    assert plain.exit_code == 0, plain.output
    assert witnessed.verify(cut, latest=False).exit_code == 0
    # ... the witness's latest statement does.
    result = witnessed.verify(cut)
    assert result.exit_code == 1, result.output
    assert f"[record seq {cut_at + 1}]" in result.output and "tail was cut" in result.output
    assert f"co-signed a tree of {seen} records" in result.output

    # The witness will not sign the shorter log; the operator sees it and the gateway records it.
    out = witnessed.run_cli_witness(monkeypatch)
    assert out.exit_code == 1 and "REFUSED" in out.output and "witness_truncated" in out.output, out.output
    assert json.loads(witnessed.witness.state_path.read_text())["size"] == seen
    fp = keys.fingerprint(witnessed.witness.public)
    assert ("audit.witness_refused", WitnessProblem.TRUNCATED.value, fp) in witnessed.refusals()


def test_a_history_re_signed_with_the_stolen_audit_key_is_refused(
    witnessed: Witnessed, monkeypatch: pytest.MonkeyPatch
) -> None:
    witnessed.seal(20)
    seen = witnessed.witness.once()
    stolen = witnessed.embedded.state.settings.audit.signing_pair()
    resign_history(witnessed.engine, stolen, seq=5)
    witnessed.seal(10)  # the log goes on, over the rewritten history, signed by the gateway itself

    with pytest.raises(WitnessRefused) as refused:
        witnessed.witness.once()
    assert refused.value.problem is WitnessProblem.INCONSISTENT
    out = witnessed.run_cli_witness(monkeypatch)
    assert out.exit_code == 1 and "witness_inconsistent" in out.output, out.output
    state = json.loads(witnessed.witness.state_path.read_text())
    assert (state["size"], state["root"]) == (seen.size, seen.root)
    assert [r[1] for r in witnessed.refusals()] == [WitnessProblem.INCONSISTENT.value] * 2

    path = witnessed.export("rewritten.zip")
    # Signed by the real audit key throughout: the pinned audit key alone accepts it.
    plain = runner.invoke(audit_app, ["verify", str(path), "--audit-key", str(witnessed.audit_pem)])
    assert plain.exit_code == 0, plain.output
    result = witnessed.verify(path, latest=False)
    assert result.exit_code == 1 and "no valid co-signature of the pinned witness" in result.output, (
        result.output
    )
    # The range the witness co-signed: its old co-signature does not cover the rewritten tree.
    older = witnessed.export("older.zip", ExportFilter(seq_to=seen.size))
    result = witnessed.verify(older)
    assert result.exit_code == 1 and "no valid co-signature" in result.output, result.output


def test_a_checkpoint_without_a_co_signature_fails_when_a_witness_is_required(witnessed: Witnessed) -> None:
    witnessed.seal(20)
    unwitnessed = witnessed.export("unwitnessed.zip")
    result = witnessed.verify(unwitnessed, latest=False)
    assert result.exit_code == 1 and "carries no valid co-signature" in result.output, result.output

    witnessed.witness.once()
    assert witnessed.verify(witnessed.export("witnessed.zip")).exit_code == 0
    with witnessed.engine.begin() as conn:  # the DBA drops the co-signatures
        conn.execute(text("UPDATE audit_checkpoint SET cosignatures = NULL"))
    result = witnessed.verify(witnessed.export("dropped.zip"))
    assert result.exit_code == 1 and "carries no valid co-signature" in result.output, result.output


def test_a_co_signature_by_another_key_fails(witnessed: Witnessed) -> None:
    witnessed.seal(20)
    latest = witnessed.client.get("/v1/audit/checkpoints/latest").json()
    size, root, origin = latest["checkpoint"]["last_seq"], latest["checkpoint"]["tree_root"], latest["origin"]
    forger = Ed25519PrivateKey.generate()
    forged = cosignature.sign(forger, origin=origin, size=size, root=root, timestamp=1_764_633_600)
    # The log keeps any co-signature that verifies with the key it names; the verifier pins the witness.
    posted = witnessed.client.post(f"/v1/audit/checkpoints/{size}/cosignatures", json=forged)
    assert posted.status_code == 201, posted.text
    witnessed.witness.once()  # the real witness has a state file to give as latest
    witnessed.seal(5)  # and the log moves on: what the forger co-signs next is the newest tree
    newest = witnessed.client.get("/v1/audit/checkpoints/latest").json()["checkpoint"]
    again = cosignature.sign(
        forger, origin=origin, size=newest["last_seq"], root=newest["tree_root"], timestamp=1
    )
    assert (
        witnessed.client.post(
            f"/v1/audit/checkpoints/{newest['last_seq']}/cosignatures", json=again
        ).status_code
        == 201
    )
    result = witnessed.verify(witnessed.export("forged.zip"), latest=False)
    assert result.exit_code == 1 and "no valid co-signature of the pinned witness" in result.output, (
        result.output
    )

    # Claiming the real witness's key with the forger's signature: refused by the gateway, and audited.
    claim = {**again, "public_key_pem": keys.public_pem(witnessed.witness.public)}
    denied_before = witnessed.count("request.denied")
    refused = witnessed.client.post(f"/v1/audit/checkpoints/{newest['last_seq']}/cosignatures", json=claim)
    assert refused.status_code == 400 and refused.json()["reason"] == "invalid_request", refused.text
    fp = keys.fingerprint(witnessed.witness.public)
    assert ("audit.cosignature_refused", "invalid_request", fp) in witnessed.refusals()
    assert witnessed.count("request.denied") == denied_before  # recorded once, with the witness's key
    # Put straight into the table by the DBA instead: the verifier finds it.
    with witnessed.engine.begin() as conn:
        row = {"witness": fp, "public_key_pem": claim["public_key_pem"], "origin": origin, "timestamp": 1,
               "signature": again["signature"]}  # fmt: skip
        conn.execute(
            text("UPDATE audit_checkpoint SET cosignatures = :c WHERE last_seq = :s"),
            {"c": json.dumps([row]), "s": newest["last_seq"]},
        )
    result = witnessed.verify(witnessed.export("forged-row.zip"), latest=False)
    assert result.exit_code == 1 and "no valid co-signature of the pinned witness" in result.output, (
        result.output
    )
    # A forged latest statement is refused as well (the bundle itself being witnessed this time).
    witnessed.witness.once()
    fake_latest = witnessed.tmp / "fake-latest.json"
    fake_latest.write_text(
        json.dumps({**json.loads(witnessed.witness.state_path.read_text()), "signature": again["signature"]})
    )
    result = witnessed.verify(witnessed.export("x.zip"), "--witness-latest", str(fake_latest), latest=False)
    assert result.exit_code == 1 and "not signed by the pinned witness key" in result.output, result.output


def test_the_witness_routes_need_the_audit_scope_and_serve_only_kept_trees(witnessed: Witnessed) -> None:
    witnessed.seal(20)
    size = witnessed.witness.once().size
    engine = witnessed.engine
    jwk = register_test_system(engine, client_id="zjj-query-only", department="zjj", scopes=["query"])
    query_only = {"Authorization": f"Bearer {token_with_key(witnessed.client, jwk, 'zjj-query-only')}"}
    routes = [
        ("GET", "/v1/audit/checkpoints/latest", None),
        ("GET", f"/v1/audit/consistency?from=0&to={size}", None),
        ("POST", f"/v1/audit/checkpoints/{size}/cosignatures", {}),
        ("POST", f"/v1/audit/checkpoints/{size}/refusals", {}),
    ]
    for method, path, body in routes:
        assert (
            witnessed.client.request(method, path, json=body, headers={"Authorization": ""}).status_code
            == 401
        )
        assert witnessed.client.request(method, path, json=body, headers=query_only).status_code == 403, path
    # A proof only from a size the log kept a frontier for; a backwards one is malformed.
    assert witnessed.client.get(f"/v1/audit/consistency?from=7&to={size}").status_code == 404
    assert witnessed.client.get(f"/v1/audit/consistency?from={size}&to=1").status_code == 400
    ok = witnessed.client.get(f"/v1/audit/consistency?from={size}&to={size}")
    assert ok.status_code == 200 and ok.json()["proof"] == []

"""A database administrator rewrites the audit history (issue 9 item 5, DESIGN.md §12).

They change a record, recompute every hash after it, re-sign the checkpoints of the range with a key
of their own and put that key into `audit_key`, so every export ships it. The bundle is then
consistent with the keys it carries; `shuyuan audit verify` trusts only the pinned audit key (a PEM
file or a fingerprint from the officer), so it names the first checkpoint the impostor signed. A cut
tail is found against a checkpoint the officer kept from an earlier verify (without a witness it is
not visible in the bundle alone: docs/audit.md).
"""

import dataclasses
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from exchange.audit import bundle, chain, checkpoint, keys, records, store
from exchange.audit.cli import audit_app
from exchange.audit.events import AuditAction, AuditRecord
from exchange.audit.keys import PinnedKeys
from exchange.audit.models import AuditEntry
from exchange.audit.verify import verify_bundle
from registry import db

EXCHANGE_MIGRATIONS = Path(__file__).resolve().parents[2] / "exchange" / "migrations"
runner = CliRunner()
ENTRY = AuditEntry.__table__  # type: ignore[attr-defined]


def denials(ids: range) -> list[AuditRecord]:
    """Denials of 住建局's queries, as the query flow records them."""
    return [
        records.query_step(
            AuditAction.ELEMENT_DECIDED,
            gateway="gw-0",
            department="zjj",
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


@pytest.fixture
def log(tmp_path: Path) -> Engine:
    """60 records of 住建局's queries, sealed by the real audit key, a checkpoint every 10 records."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)
    key = keys.load_or_create(tmp_path / "sealer-keys")
    policy = store.CheckpointPolicy(every=10, interval_s=10**6)
    for start in range(0, 60, 5):
        with engine.begin() as conn:
            store.append(conn, denials(range(start, start + 5)), key=key, policy=policy)
    return engine


@pytest.fixture
def real_key(tmp_path: Path) -> Path:
    """The sealer's public key as the officer received it out of band (`shuyuan audit public-key`)."""
    pem = tmp_path / "officer" / "audit.pub.pem"
    pem.parent.mkdir()
    pem.write_text(keys.public_pem(keys.load_or_create(tmp_path / "sealer-keys").public))
    return pem


def rewrite_history(engine: Engine, forger: keys.AuditKeyPair, *, seq: int, kid: str | None = None) -> None:
    """What the DBA does with SQL and a key of their own: change one record, re-chain, re-sign."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_entry SET decision = 'allow', reason = NULL WHERE seq = :s"), {"s": seq}
        )
        rows = [store.record_from_row(r) for r in conn.execute(select(ENTRY).order_by(ENTRY.c.seq))]
        prev = rows[seq - 2]["hash"]
        for r in rows[seq - 1 :]:
            sealed = chain.seal({k: v for k, v in r.items() if k != "hash"}, seq=r["seq"], prev_hash=prev)
            prev = sealed["hash"]
            conn.execute(
                text("UPDATE audit_entry SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": sealed["prev_hash"], "h": sealed["hash"], "s": r["seq"]},
            )
            r.update(sealed)
        hashes = {r["seq"]: r["hash"] for r in rows}
        cps = conn.execute(select(store.CP.c.first_seq, store.CP.c.last_seq, store.CP.c.time)).all()
        signer = forger if kid is None else dataclasses.replace(forger, kid=kid)
        for first, last, when in cps:
            if last < seq and kid is None:
                continue  # the earlier checkpoints stay as the real key signed them
            cp = checkpoint.make(
                first_seq=first,
                last_seq=last,
                hashes=[hashes[s] for s in range(first, last + 1)],
                time=chain.format_time(when),
                key=signer,
            )
            conn.execute(
                text(
                    "UPDATE audit_checkpoint SET merkle_root = :merkle_root, last_hash = :last_hash, "
                    "kid = :kid, signature = :signature WHERE last_seq = :last_seq"
                ),
                {k: cp[k] for k in ("merkle_root", "last_hash", "kid", "signature", "last_seq")},
            )
        pem = keys.public_pem(forger.public)
        if kid is None:  # the forger's key joins the table, so the export ships it
            store.ensure_key(conn, forger)
        else:  # or replaces the real key's PEM under the real kid
            conn.execute(
                text("UPDATE audit_key SET public_key_pem = :p WHERE kid = :k"), {"k": kid, "p": pem}
            )


def export(engine: Engine, out: Path) -> Path:
    url = engine.url.render_as_string(hide_password=False)
    result = runner.invoke(audit_app, ["export", "--database-url", url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def shipped_keys(path: Path) -> PinnedKeys:
    """The keys the bundle itself carries: what verification used to trust."""
    with zipfile.ZipFile(path) as z:
        return PinnedKeys.parse(z.read(n).decode() for n in z.namelist() if n.startswith(bundle.KEYS_DIR))


def test_a_history_re_signed_with_the_dbas_own_key_fails_against_the_pinned_key(
    log: Engine, tmp_path: Path, real_key: Path
) -> None:
    forger = keys.load_or_create(tmp_path / "dba-keys")
    rewrite_history(log, forger, seq=25)
    path = export(log, tmp_path / "rewritten.zip")

    assert verify_bundle(path, pinned=shipped_keys(path)).ok  # "verifies" against the bundle's own keys

    unpinned = runner.invoke(audit_app, ["verify", str(path)])
    assert unpinned.exit_code == 2 and "NOT VERIFIED" in unpinned.output and "OK" not in unpinned.output

    result = runner.invoke(audit_app, ["verify", str(path), "--audit-key", str(real_key)])
    assert result.exit_code == 1, result.output
    assert "BROKEN" in result.output and "[record seq 21]" in result.output
    assert "checkpoint seq 21..30" in result.output and "not the pinned audit key" in result.output
    assert keys.fingerprint(forger.public) in result.output  # names the impostor's key

    real_print = keys.fingerprint(keys.load_public_pem(real_key.read_text()))
    by_print = runner.invoke(audit_app, ["verify", str(path), "--audit-key-fingerprint", real_print])
    assert by_print.exit_code == 1 and "checkpoint seq 21..30" in by_print.output, by_print.output


def test_a_forged_key_under_the_real_kid_is_refused_too(log: Engine, tmp_path: Path, real_key: Path) -> None:
    real_kid = keys.key_id(keys.load_public_pem(real_key.read_text()))
    rewrite_history(log, keys.load_or_create(tmp_path / "dba-keys"), seq=42, kid=real_kid)
    path = export(log, tmp_path / "rewritten.zip")
    assert verify_bundle(path, pinned=shipped_keys(path)).ok
    result = runner.invoke(audit_app, ["verify", str(path), "--audit-key", str(real_key)])
    # Under the real kid every checkpoint had to be re-signed: the very first one is refused.
    assert result.exit_code == 1 and "[record seq 1]" in result.output, result.output
    assert "not the pinned audit key" in result.output


def test_the_untouched_log_verifies_and_names_the_key_it_trusted(
    log: Engine, tmp_path: Path, real_key: Path
) -> None:
    path = export(log, tmp_path / "good.zip")
    result = runner.invoke(audit_app, ["verify", str(path), "--audit-key", str(real_key)])
    assert result.exit_code == 0, result.output
    real_print = keys.fingerprint(keys.load_public_pem(real_key.read_text()))
    assert f"trusted audit key: {real_print}" in result.output
    assert real_print.startswith("SHA256:") and len(real_print) == 7 + 43


def test_a_cut_tail_is_found_against_a_checkpoint_seen_before(
    log: Engine, tmp_path: Path, real_key: Path
) -> None:
    before = runner.invoke(
        audit_app, ["verify", str(export(log, tmp_path / "march.zip")), "--audit-key", str(real_key)]
    )
    seen = tmp_path / "officer" / "seen.jsonl"  # the "last checkpoint" line the officer kept
    seen.write_text(
        next(ln for ln in before.output.splitlines() if "last checkpoint:" in ln).split(": ", 1)[1]
    )
    with log.begin() as conn:  # the DBA drops the last 20 records and their checkpoints
        conn.execute(text("DELETE FROM audit_entry WHERE seq > 40"))
        conn.execute(text("DELETE FROM audit_checkpoint WHERE last_seq > 40"))
        conn.execute(text("UPDATE audit_chain_head SET seq = 40, checkpoint_seq = 40"))
    cut = export(log, tmp_path / "april.zip")

    # Without a witness the bundle alone cannot show it: it verifies, and shows where it ends.
    alone = runner.invoke(audit_app, ["verify", str(cut), "--audit-key", str(real_key)])
    assert alone.exit_code == 0 and '"last_seq": 40' in alone.output, alone.output

    result = runner.invoke(
        audit_app, ["verify", str(cut), "--audit-key", str(real_key), "--seen-checkpoint", str(seen)]
    )
    assert result.exit_code == 1 and "[record seq 41]" in result.output and "truncated" in result.output, (
        result.output
    )


def test_a_checkpoint_seen_before_that_was_rewritten_is_named(
    log: Engine, tmp_path: Path, real_key: Path
) -> None:
    good = export(log, tmp_path / "good.zip")
    with zipfile.ZipFile(good) as z:
        seen_cps = z.read(bundle.CHECKPOINTS).decode()
    seen = tmp_path / "seen.jsonl"
    seen.write_text(seen_cps)
    # Even a rewrite re-signed with the real key (a stolen key) breaks a checkpoint the officer kept.
    rewrite_history(log, keys.load_or_create(tmp_path / "sealer-keys"), seq=33)
    path = export(log, tmp_path / "later.zip")
    assert runner.invoke(audit_app, ["verify", str(path), "--audit-key", str(real_key)]).exit_code == 0
    result = runner.invoke(
        audit_app, ["verify", str(path), "--audit-key", str(real_key), "--seen-checkpoint", str(seen)]
    )
    assert result.exit_code == 1 and "checkpoint seq 31..40" in result.output and "rewritten" in result.output
    assert json.loads(seen_cps.splitlines()[0])["first_seq"] == 1


def test_the_console_verifies_against_the_gateways_own_key_not_the_uploaded_bundles(tmp_path: Path) -> None:
    from console.settings import ConsoleSettings
    from console.users import service as users
    from registry.db import unit_of_work
    from shuyuan.embedded import build_embedded
    from tests.console.test_console_auth import csrf, login

    settings = ConsoleSettings(environment="test")
    embedded = build_embedded(tmp_path / "gw", console_settings=settings)
    with TestClient(embedded.app) as client:
        state = embedded.state
        with unit_of_work(state.engine) as session:
            users.create(session=session, username="officer-x", password="correct horse battery",
                         role="security_officer", settings=settings)  # fmt: skip
        assert login(client, "officer-x", "correct horse battery").status_code == 303
        # Through the gateway's own writer, which chains concurrently with the sign-in's record.
        client.portal.call(state.audit_writer.write, denials(range(5)))  # type: ignore[union-attr]
        state.audit_writer.checkpoint_now()  # type: ignore[union-attr]
        real = keys.fingerprint(state.settings.audit.signing_pair().public)
        page = client.get("/console/audit/verify")
        assert page.status_code == 200 and real in page.text

        forger = keys.load_or_create(tmp_path / "dba-keys")
        rewrite_history(state.engine, forger, seq=3)
        path = tmp_path / "rewritten.zip"
        from exchange.audit.export import ExportFilter, write_bundle

        write_bundle(state.engine, ExportFilter(), path)
        assert verify_bundle(path, pinned=shipped_keys(path)).ok
        token = csrf(client, "/console/audit/verify")
        with path.open("rb") as f:
            response = client.post(
                "/console/audit/verify",
                data={"csrf_token": token},
                files={"bundle": ("rewritten.zip", f, "application/zip")},
            )
        assert response.status_code == 422, response.text
        assert (
            "not the pinned audit key" in response.text and keys.fingerprint(forger.public) in response.text
        )
        assert real in response.text  # the key the page trusted

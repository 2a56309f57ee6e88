"""`shuyuan audit ...`: export, verify, sealer, witness, archive, public-key."""

import logging
import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from exchange.settings import GatewaySettings

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _settings() -> "GatewaySettings":
    from exchange.settings import GatewaySettings

    return GatewaySettings()


def _engine(database_url: str | None) -> "Engine":
    from registry import db

    engine = db.make_engine(database_url or _settings().database_url)
    # Only the gateway's own tree: the audit tables live there, and a sealer needs no registry.
    db.upgrade(engine, script_location=Path(__file__).resolve().parent.parent / "migrations")
    return engine


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    )


@audit_app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="The bundle file to write (.zip)")],
    database_url: Annotated[str | None, typer.Option(help="Gateway database; SHUYUAN_DATABASE_URL")] = None,
    time_from: Annotated[
        datetime | None, typer.Option("--from", help="Records at or after (ISO 8601)")
    ] = None,
    time_to: Annotated[datetime | None, typer.Option("--to", help="Records before (ISO 8601)")] = None,
    department: Annotated[str | None, typer.Option(help="Acting department code")] = None,
    system: Annotated[str | None, typer.Option(help="Acting client system")] = None,
    element: Annotated[str | None, typer.Option(help="Element code")] = None,
    purpose: Annotated[str | None, typer.Option(help="Service item code")] = None,
    decision: Annotated[str | None, typer.Option(help="allow or deny")] = None,
    subject_type: Annotated[str | None, typer.Option(help="person or enterprise")] = None,
    subject_id: Annotated[str | None, typer.Option(help="Identifier; turned into its blind index")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Add records.csv to the bundle")] = False,
    witnessed: Annotated[
        bool, typer.Option("--witnessed", help="End at the newest checkpoint the witness co-signed")
    ] = False,
) -> None:
    """Export a verifiable bundle: records, the checkpoints covering them, the public key."""
    from exchange.audit import export, service
    from exchange.crypto import PlatformKeys
    from protocol.errors import ShuyuanError

    settings = _settings()
    # Only the blind index is needed (a subject filter); no sealing key is used here.
    keys = PlatformKeys(
        blind_index_secret=settings.blind_index_secret(), sealing_secrets=settings.sealing_secrets()
    )
    if decision not in (None, "allow", "deny"):
        raise typer.BadParameter("allow or deny", param_hint="--decision")
    try:
        f = service.make_filter(
            keys=keys, subject_type=subject_type, subject_id=subject_id,  # type: ignore[arg-type]
            time_from=time_from, time_to=time_to, department=department, system=system,
            element=element, purpose=purpose, decision=decision, witnessed=witnessed or None,
        )  # fmt: skip
    except ShuyuanError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    engine = _engine(database_url)
    total = export.count(engine, f)
    with _progress() as bar:
        task = bar.add_task("exporting", total=total)
        manifest = export.write_bundle(
            engine, f, out, formats=("jsonl", "csv") if csv else ("jsonl",),
            progress=lambda n: bar.advance(task, n),
        )  # fmt: skip
    engine.dispose()
    span = f"seq {manifest['first_seq']}..{manifest['last_seq']}" if manifest["records"] else "no records"
    kind = "complete range" if manifest["complete"] else "filtered, with inclusion proofs"
    typer.echo(
        f"{out}: {manifest['records']} records ({span}, {kind}), {manifest['checkpoints']} checkpoints"
    )


@audit_app.command("verify")
def verify_cmd(
    bundles: Annotated[
        list[Path], typer.Argument(help="Bundle(s); several archives are checked as one chain")
    ],
    audit_key: Annotated[
        list[Path] | None,
        typer.Option("--audit-key", help="The audit public key (PEM) to trust; repeat for rotated keys"),
    ] = None,
    audit_key_fingerprint: Annotated[
        list[str] | None,
        typer.Option("--audit-key-fingerprint", help="...or its fingerprint, SHA256:<base64url>"),
    ] = None,
    seen_checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--seen-checkpoint",
            help="A file of checkpoints (JSON lines, as verify prints them) seen before: the bundle "
            "must still hold them (finds a cut tail)",
        ),
    ] = None,
    witness_key: Annotated[
        list[Path] | None,
        typer.Option("--witness-key", help="The witness public key (PEM) to require; repeatable"),
    ] = None,
    witness_fingerprint: Annotated[
        list[str] | None, typer.Option("--witness-fingerprint", help="...or its fingerprint, SHA256:...")
    ] = None,
    witness_latest: Annotated[
        Path | None,
        typer.Option(
            "--witness-latest",
            help="The witness's latest statement (its state file): the bundle must be consistent with it "
            "(finds a cut tail and a rewritten history)",
        ),
    ] = None,
) -> None:
    """Verify bundles offline against a pinned audit key; exit 1 and name the first broken record.

    The key comes from --audit-key / --audit-key-fingerprint or SHUYUAN_AUDIT_PINNED_KEYS, never from
    the bundle; without one nothing is called verified (exit 2). With --witness-key/--witness-fingerprint
    the bundle's newest tree must carry that witness's co-signature.
    """
    import json

    from exchange.audit.keys import PinnedKeys
    from exchange.audit.settings import AuditSettings
    from exchange.audit.verify import WitnessCheck, verify_bundle, verify_chain_of_bundles

    try:
        given = [str(p) for p in audit_key or []] + list(audit_key_fingerprint or [])
        pinned = PinnedKeys.parse(given) if given else AuditSettings().pinned()
        seen = [
            json.loads(line)
            for f in seen_checkpoint or []
            for line in f.read_text().splitlines()
            if line.strip()
        ]
        witness_pins = PinnedKeys.parse([str(p) for p in witness_key or []] + list(witness_fingerprint or []))
        latest = json.loads(witness_latest.read_text()) if witness_latest is not None else None
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if latest is not None and not witness_pins:
        typer.echo("error: --witness-latest needs the pinned witness key (--witness-key or "
                   "--witness-fingerprint)", err=True)  # fmt: skip
        raise typer.Exit(2)
    witness = WitnessCheck(witness_pins, latest) if witness_pins else None
    if not pinned:
        typer.echo(
            "NOT VERIFIED: no pinned audit key. The keys a bundle ships prove nothing (whoever holds the "
            "database can put their own there). Give --audit-key FILE or --audit-key-fingerprint "
            "SHA256:... (from `shuyuan audit public-key` on the sealer's host), or set "
            "SHUYUAN_AUDIT_PINNED_KEYS.",
            err=True,
        )
        raise typer.Exit(2)
    if len(bundles) == 1:
        with _progress() as bar:
            task = bar.add_task("verifying", total=None)
            reports = [
                verify_bundle(
                    bundles[0],
                    pinned=pinned,
                    seen=seen,
                    witness=witness,
                    progress=lambda n: bar.advance(task, n),
                )
            ]
    else:
        reports = verify_chain_of_bundles(bundles, pinned=pinned, seen=seen, witness=witness)
    failed = False
    for path, r in zip(bundles, reports, strict=True):
        if r.ok:
            kind = "chain and Merkle roots" if r.complete else "inclusion proofs"
            typer.echo(
                f"OK {path}: {r.records} records (seq {r.first_seq}..{r.last_seq}), "
                f"{r.checkpoints} signed checkpoints, {kind} verified"
            )
            typer.echo(f"   trusted audit key: {', '.join(r.trusted)}")
            if r.witnessed is not None:
                typer.echo(f"   witness: {r.witnessed}")
            elif witness is None:
                typer.echo(
                    "   witness: none checked (give --witness-key or --witness-fingerprint, and "
                    "--witness-latest, to detect a cut tail or a history re-signed with the audit key)"
                )
            if r.last_checkpoint is not None:
                # Without a witness a cut tail is not visible in the bundle: keep this line and pass
                # it to the next verify with --seen-checkpoint, or compare it with a published one.
                typer.echo(f"   last checkpoint: {json.dumps(r.last_checkpoint, sort_keys=True)}")
            for note in r.notes:
                typer.echo(f"   note: {note}")
        else:
            failed = True
            where = f" [record seq {r.broken_seq}]" if r.broken_seq is not None else ""
            typer.echo(f"BROKEN {path}{where}: {r.problem}", err=True)
    if failed:
        raise typer.Exit(1)


@audit_app.command("sealer")
def sealer_cmd() -> None:
    """Consume the audit topic and chain it into the database (SHUYUAN_* settings).

    Topic and group are `<ns>.audit` and `<ns>.audit.sealer`, from SHUYUAN_KAFKA_NAMESPACE.
    """
    from exchange.audit.sealer import Sealer
    from exchange.audit.wiring import policy_of

    # A long-running process: its lag, retries and refusals must reach the operator's log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = _settings()
    audit = settings.audit
    if settings.environment == "production" and audit.signing_key is None:
        typer.echo("error: SHUYUAN_AUDIT_SIGNING_KEY must be set in production (docs/crypto.md)", err=True)
        raise typer.Exit(2)
    engine = _engine(settings.database_url)
    names = settings.kafka_names()
    sealer = Sealer(
        engine, settings.audit_kafka_config(), key=audit.signing_pair(), policy=policy_of(audit),
        names=names, partitions=audit.partitions, topic_configs=audit.topic_configs(),
        max_lag=audit.sealer_max_lag,
        session_timeout_ms=audit.sealer_session_timeout_ms, group_instance_id=audit.sealer_instance_id,
    )  # fmt: skip
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    typer.echo(
        f"audit sealer: {names.audit_topic} (group {names.sealer_group}) -> {engine.url.render_as_string()}"
    )
    sealer.serve(stop)


@audit_app.command("witness")
def witness_cmd(
    url: Annotated[str, typer.Option("--url", help="The gateway's base URL (its /v1/audit API)")],
    key: Annotated[
        Path, typer.Option("--key", help="The witness's Ed25519 key (PEM, 0600); created on first run")
    ],
    state: Annotated[
        Path, typer.Option("--state", help="The witness's state file: the last tree it co-signed")
    ],
    audit_key: Annotated[
        list[Path] | None, typer.Option("--audit-key", help="The pinned audit public key (PEM); repeatable")
    ] = None,
    audit_key_fingerprint: Annotated[
        list[str] | None, typer.Option("--audit-key-fingerprint", help="...or its SHA256: fingerprint")
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="A file holding an access token granting audit:read, read every round "
            "(else SHUYUAN_WITNESS_TOKEN)",
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One round; exit 1 if the witness refuses")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds", min=1.0)] = 30.0,
) -> None:
    """Co-sign the log's newest checkpoint once its consistency with the last co-signed one is proved.

    Refuses (loudly, exit 1 with --once, every round otherwise) a log that was cut or rewritten.
    """
    import os

    import httpx

    from exchange.audit.keys import PinnedKeys
    from exchange.audit.settings import AuditSettings
    from exchange.audit.witness import HttpLog, Witness, WitnessRefused, load_or_create_key, public_path

    try:
        given = [str(p) for p in audit_key or []] + list(audit_key_fingerprint or [])
        pinned = PinnedKeys.parse(given) if given else AuditSettings().pinned()
        private = load_or_create_key(key)
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not pinned:
        typer.echo("error: pin the audit key (--audit-key / --audit-key-fingerprint): the log's keys prove "
                   "nothing", err=True)  # fmt: skip
        raise typer.Exit(2)

    def token() -> str | None:
        if token_file is not None:
            return token_file.read_text().strip()
        return os.environ.get("SHUYUAN_WITNESS_TOKEN")

    from exchange.audit.keys import fingerprint

    typer.echo(f"witness key: {fingerprint(private.public_key())} (public key: {public_path(key)})")
    typer.echo(f"trusted audit key: {', '.join(pinned.trusted())}; log: {url}")
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    with httpx.Client(base_url=url, timeout=30.0) as client:
        witness = Witness(log=HttpLog(client, token), key=private, state_path=state, audit_keys=pinned)
        while True:
            code = _witness_round(witness, WitnessRefused)
            if once:
                if code:
                    raise typer.Exit(code)
                return
            if stop.wait(interval):
                return


def _witness_round(witness: Any, refused_type: type[Exception]) -> int:
    """One round of the witness; 0 when co-signed, 1 when it refused, 3 when the log was unreachable."""
    import httpx

    try:
        outcome = witness.once()
    except refused_type as exc:
        typer.echo(
            f"REFUSED: the audit log is not consistent with what this witness co-signed: {exc}", err=True
        )
        return 1
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        typer.echo(f"error: the log could not be witnessed this round: {exc}", err=True)
        return 3
    if outcome.new:
        since = "first run" if outcome.previous is None else f"consistent with size {outcome.previous}"
        typer.echo(f"co-signed tree size {outcome.size} root {outcome.root} ({since})")
    else:
        typer.echo(f"unchanged: tree size {outcome.size} (co-signature handed back again)")
    return 0


@audit_app.command("archive")
def archive_cmd(
    database_url: Annotated[str | None, typer.Option(help="Gateway database; SHUYUAN_DATABASE_URL")] = None,
    retention_days: Annotated[int | None, typer.Option(help="Days online, at least 180")] = None,
    archive_dir: Annotated[Path | None, typer.Option(help="Where archive bundles go")] = None,
) -> None:
    """Move records older than the retention period into a verified archive bundle."""
    from exchange.audit.archive import archive
    from exchange.audit.settings import AuditSettings

    given: dict[str, Any] = {"retention_days": retention_days, "archive_dir": archive_dir}
    overrides = {k: v for k, v in given.items() if v}
    try:
        audit = AuditSettings(**overrides)
    except ValidationError as exc:
        typer.echo(
            f"error: {exc.errors()[0]['msg']} (retention is at least 180 days, 网络安全法 第二十一条)",
            err=True,
        )
        raise typer.Exit(2) from exc
    done = archive(_engine(database_url), settings=audit)
    if done is None:
        typer.echo(f"nothing older than {audit.retention_days} days to archive")
    else:
        typer.echo(f"archived seq {done.first_seq}..{done.last_seq} ({done.records} records) to {done.path}")


@audit_app.command("public-key")
def public_key_cmd() -> None:
    """Print the audit public key (PEM) and its key id."""
    from exchange.audit import keys

    pair = _settings().audit.signing_pair()
    typer.echo(f"kid: {pair.kid}")
    typer.echo(f"fingerprint: {keys.fingerprint(pair.public)}")
    typer.echo(keys.public_pem(pair.public), nl=False)

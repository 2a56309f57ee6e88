"""`shuyuan audit ...`: export, verify, sealer, archive, public-key."""

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
) -> None:
    """Export a verifiable bundle: records, the checkpoints covering them, the public key."""
    from exchange.audit import export, service
    from exchange.crypto import PlatformKeys
    from protocol.errors import ShuyuanError

    settings = _settings()
    keys = PlatformKeys(settings.platform_key.get_secret_value().encode())
    if decision not in (None, "allow", "deny"):
        raise typer.BadParameter("allow or deny", param_hint="--decision")
    try:
        f = service.make_filter(
            keys=keys, subject_type=subject_type, subject_id=subject_id,  # type: ignore[arg-type]
            time_from=time_from, time_to=time_to, department=department, system=system,
            element=element, purpose=purpose, decision=decision,
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
) -> None:
    """Verify bundles offline (no database, no network); exit 1 and name the first broken record."""
    from exchange.audit.verify import verify_bundle, verify_chain_of_bundles

    if len(bundles) == 1:
        with _progress() as bar:
            task = bar.add_task("verifying", total=None)
            reports = [verify_bundle(bundles[0], progress=lambda n: bar.advance(task, n))]
    else:
        reports = verify_chain_of_bundles(bundles)
    failed = False
    for path, r in zip(bundles, reports, strict=True):
        if r.ok:
            kind = "chain and Merkle roots" if r.complete else "inclusion proofs"
            typer.echo(
                f"OK {path}: {r.records} records (seq {r.first_seq}..{r.last_seq}), "
                f"{r.checkpoints} signed checkpoints, {kind} verified"
            )
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
    """Consume the audit topic and chain it into the database (SHUYUAN_* settings)."""
    from exchange.audit import keys
    from exchange.audit.sealer import Sealer
    from exchange.audit.wiring import policy_of

    settings = _settings()
    audit = settings.audit
    config = settings.kafka_client_config()
    if audit.kafka_bootstrap:
        config["bootstrap_servers"] = audit.kafka_bootstrap.split(",")
    engine = _engine(settings.database_url)
    sealer = Sealer(
        engine, config, key=keys.load_or_create(audit.key_dir), policy=policy_of(audit),
        topic=audit.topic, partitions=audit.partitions,
    )  # fmt: skip
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    typer.echo(f"audit sealer: {audit.topic} -> {engine.url.render_as_string()}")
    sealer.serve(stop)


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

    pair = keys.load_or_create(_settings().audit.key_dir)
    typer.echo(f"kid: {pair.kid}")
    typer.echo(keys.public_pem(pair.public), nl=False)

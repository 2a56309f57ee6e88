"""`shuyuan kafka acls`: the secured broker's ACLs, generated from the registry's departments.

Run it as a super user of the broker (the `kafka-admin` certificate of `deploy/kafka.sh`'s secured
profile, through the usual SHUYUAN_KAFKA_* settings), after `shuyuan db upgrade`, and again whenever a
department is added or disabled (docs/operations.md).
"""

from typing import Annotated

import typer
from kafka.errors import SecurityDisabledError
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from kafkaio import acls
from protocol.topics import KafkaNames

kafka_app = typer.Typer(help="The Kafka broker of the secured profile.", no_args_is_help=True)


def department_codes(engine: Engine) -> list[str]:
    """The codes of the registry's active departments, sorted."""
    from registry.departments.models import Department

    with Session(engine) as session:
        rows = session.exec(select(Department.code).where(Department.status == "active")).all()
    return sorted(rows)


def wanted_bindings(
    engine: Engine, *, gateways: list[str], sealers: list[str], names: KafkaNames
) -> list[acls.AclBinding]:
    """The ACLs the registry's departments and these gateway and sealer CNs call for, in `names`."""
    return acls.bindings(
        departments=department_codes(engine), gateways=gateways, sealers=sealers, names=names
    )


@kafka_app.command("acls")
def acls_command(
    gateway: Annotated[
        list[str] | None, typer.Option(help="CN of a gateway's client certificate (repeatable)")
    ] = None,
    sealer: Annotated[
        list[str] | None, typer.Option(help="CN of an audit sealer's client certificate (repeatable)")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Default: SHUYUAN_DATABASE_URL")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the ACLs, change nothing")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also delete ACLs on shuyuan.* resources nobody needs any more")
    ] = False,
) -> None:
    """Apply (or print) the least-privilege ACLs for every department in the registry.

    The names are those of SHUYUAN_KAFKA_NAMESPACE (default `shuyuan`): run it once per deployment.
    """
    from exchange.settings import GatewaySettings
    from registry.db import make_engine

    settings = GatewaySettings()
    names = settings.kafka_names()
    engine = make_engine(database_url or settings.database_url)
    try:
        wanted = wanted_bindings(
            engine,
            gateways=gateway or [acls.GATEWAY_PRINCIPAL],
            sealers=sealer or [acls.SEALER_PRINCIPAL],
            names=names,
        )
    finally:
        engine.dispose()
    if dry_run:
        for binding in wanted:
            typer.echo(str(binding))
        return
    try:
        changes = acls.apply(settings.kafka_client_config(), wanted, prune=prune, names=names)
    except SecurityDisabledError:
        typer.echo("error: the broker has no authorizer (start it with SHUYUAN_KAFKA_SECURED=1)", err=True)
        raise typer.Exit(2) from None
    for binding in changes.created:
        typer.echo(f"created {binding}")
    for binding in changes.deleted:
        typer.echo(f"deleted {binding}")
    if changes.stale and not prune:
        for binding in changes.stale:
            typer.echo(f"stale   {binding} (kept; --prune deletes it)")
    typer.echo(f"{len(wanted)} ACLs wanted, {len(changes.created)} created, {len(changes.deleted)} deleted")

"""The `shuyuan` command: one entry point for every process and the tools around them."""

import json
import logging
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Annotated

import httpx
import typer

app = typer.Typer(help="Shuyuan (数源): cross-department government data exchange.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
gateway_app = typer.Typer(help="The exchange gateway (registry API + query API).", no_args_is_help=True)
connector_app = typer.Typer(help="A department's connector.", no_args_is_help=True)
sample_app = typer.Typer(help="Sample departments and registry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(gateway_app, name="gateway")
app.add_typer(connector_app, name="connector")
app.add_typer(sample_app, name="sample")

DEFAULT_DATA = Path("var")


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)


def demo_commands(base_url: str, demo_person: str) -> str:
    """The query a newcomer can paste, as a CLI line and as curl."""
    body = {
        "query_id": "demo-0001",
        "subject": {"type": "person", "id": demo_person},
        "elements": ["person.name", "person.household_members", "person.si_contribution_base"],
        "purpose": {"service_item": "330100-GZF-001", "case_no": "ZJJ-2026-000123"},
    }
    return (
        "Try a query (住建局 asks 公安局 and 人社局 for a public-rental-housing case):\n"
        f"  .venv/bin/shuyuan query --url {base_url} --as zjj --item 330100-GZF-001 \\\n"
        f"      --case ZJJ-2026-000123 --person {demo_person} \\\n"
        "      person.name person.household_members person.si_contribution_base\n"
        "or with curl:\n"
        f"  curl -s -X POST {base_url}/v1/queries -H 'Content-Type: application/json' "
        f"-H 'X-Consumer-Department: zjj' \\\n      -d '{json.dumps(body, ensure_ascii=False)}'\n"
        f"API documentation: {base_url}/docs"
    )


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the SQLite files live")] = DEFAULT_DATA,
) -> None:
    """Run the embedded exchange: SQLite, in-process transport, sample departments and connectors."""
    import uvicorn

    from shuyuan.embedded import build_embedded

    _logging()
    embedded = build_embedded(data_dir)
    typer.echo(f"Shuyuan embedded exchange on http://{host}:{port} (data in {data_dir.resolve()})")
    typer.echo(demo_commands(f"http://{host}:{port}", embedded.subjects.demo_person))
    uvicorn.run(embedded.app, host=host, port=port, log_level="warning")


@gateway_app.command("serve")
def gateway_serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    seed_samples: Annotated[
        bool, typer.Option(help="Load the sample registry into an empty database")
    ] = False,
) -> None:
    """Run the gateway with settings from SHUYUAN_* environment variables."""
    import uvicorn

    from exchange.app import create_app
    from exchange.settings import GatewaySettings
    from shuyuan import sample_catalogue

    _logging()
    settings = GatewaySettings()
    prepare = sample_catalogue.seed if seed_samples else None
    uvicorn.run(create_app(settings, prepare=prepare), host=host, port=port, log_level="warning")


@connector_app.command("run")
def connector_run(
    config: Annotated[Path, typer.Option("--config", exists=True, dir_okay=False, help="Department YAML")],
    data_dir: Annotated[Path | None, typer.Option(help="Base folder of relative SQLite paths")] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (overrides the file)")
    ] = None,
) -> None:
    """Serve one department's request topic from its own database until interrupted."""
    from connectors.config import load_config
    from connectors.kafka_server import KafkaConnectorServer
    from connectors.runtime import Connector

    _logging()
    cfg = load_config(config, base_dir=data_dir)
    servers = (bootstrap or cfg.kafka.bootstrap).split(",")
    server = KafkaConnectorServer(
        Connector(cfg),
        {"bootstrap_servers": servers, "client_id": f"shuyuan-connector-{cfg.department}"},
        group_id=cfg.kafka.group_id,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    typer.echo(f"connector {cfg.department} serving shuyuan.req.{cfg.department} on {','.join(servers)}")
    server.serve(stop)


@db_app.command("upgrade")
def db_upgrade(
    database_url: Annotated[str | None, typer.Option(help="Default: SHUYUAN_DATABASE_URL")] = None,
) -> None:
    """Bring the database schema to the latest revision."""
    from exchange.app import migrate
    from exchange.settings import GatewaySettings
    from registry.db import make_engine

    url = database_url or GatewaySettings().database_url
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    typer.echo("database is at the latest revision")


@sample_app.command("load")
def sample_load(
    database_url: Annotated[str | None, typer.Option(help="Default: SHUYUAN_DATABASE_URL")] = None,
    data_dir: Annotated[Path, typer.Option(help="Where the department databases go")] = DEFAULT_DATA,
) -> None:
    """Migrate, load the sample registry, and create the sample departments' own databases."""
    from exchange.app import migrate
    from exchange.settings import GatewaySettings
    from registry.db import make_engine
    from shuyuan import sample_catalogue
    from shuyuan.embedded import ensure_sample_data

    engine = make_engine(database_url or GatewaySettings().database_url)
    migrate(engine)
    loaded = sample_catalogue.seed(engine)
    engine.dispose()
    subjects = ensure_sample_data(data_dir)
    typer.echo(("loaded" if loaded else "already loaded") + f"; demo person {subjects.demo_person}")


@app.command()
def query(
    elements: Annotated[list[str], typer.Argument(help="Element codes, e.g. person.name")],
    department: Annotated[str, typer.Option("--as", help="Code of the asking department")],
    item: Annotated[str, typer.Option("--item", help="Service item code (the purpose)")],
    case: Annotated[str, typer.Option("--case", help="Case number (办件编号)")],
    person: Annotated[str | None, typer.Option(help="Resident ID of the subject")] = None,
    enterprise: Annotated[str | None, typer.Option(help="Unified social credit code of the subject")] = None,
    query_id: Annotated[str | None, typer.Option(help="Idempotency key (default: a new one)")] = None,
    url: Annotated[str, typer.Option(help="Gateway base URL")] = "http://127.0.0.1:8000",
) -> None:
    """Ask the exchange for data about a person or an enterprise, and print the answer."""
    if (person is None) == (enterprise is None):
        raise typer.BadParameter("give exactly one of --person or --enterprise")
    subject = {"type": "person", "id": person} if person else {"type": "enterprise", "id": enterprise}
    body = {
        "query_id": query_id or f"cli-{uuid.uuid4().hex}",
        "subject": subject,
        "elements": elements,
        "purpose": {"service_item": item, "case_no": case},
    }
    try:
        response = httpx.post(
            f"{url}/v1/queries", json=body, headers={"X-Consumer-Department": department}, timeout=30
        )
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the gateway at {url}: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(response.json(), ensure_ascii=False, indent=2))
    if response.status_code >= 400:
        raise typer.Exit(1)


def main() -> None:
    """Entry point for `python -m shuyuan`."""
    app(prog_name="shuyuan")


if __name__ == "__main__":
    sys.exit(main())

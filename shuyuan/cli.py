"""The `shuyuan` command: one entry point for every process and the tools around them."""

import hashlib
import json
import logging
import signal
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer

from connectors.client_auth import TokenAuth, TokenError, TokenSource, read_key_file
from console.cli import console_app
from exchange.audit.cli import audit_app
from protocol.identifiers import SubjectType
from shuyuan.demo.cli import demo
from shuyuan.events_cli import connector_events, event_app
from shuyuan.kafka_cli import kafka_app
from shuyuan.keys_cli import keys_app
from shuyuan.pki import pki_app

app = typer.Typer(help="Shuyuan (数源): cross-department government data exchange.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
gateway_app = typer.Typer(help="The exchange gateway (registry API + query API).", no_args_is_help=True)
connector_app = typer.Typer(help="A department's connector.", no_args_is_help=True)
sample_app = typer.Typer(help="Sample departments and registry.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(gateway_app, name="gateway")
app.add_typer(connector_app, name="connector")
connector_app.command("events")(connector_events)
app.add_typer(event_app, name="event")
app.add_typer(sample_app, name="sample")
app.add_typer(pki_app, name="pki")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(console_app, name="console")
app.add_typer(kafka_app, name="kafka")
app.command("demo")(demo)

DEFAULT_DATA = Path("var")
SYSTEM_KEYS = DEFAULT_DATA / "keys" / "systems"  # written by the embedded mode at first start
GATEWAY_JWKS = DEFAULT_DATA / "keys" / "gateway" / "request-jwks.json"  # written by `sample load`


def _logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP request: a puller's noise


# The demo's caseworker at 住建局 (a user id of the department's own system).
DEMO_CASEWORKER = "wang.fang"


def demo_commands(base_url: str, demo_person: str) -> str:
    """The query a newcomer can paste, as a CLI line and as curl."""
    body = {
        "query_id": "demo-0001",
        "subject": {"type": "person", "id": demo_person},
        "elements": ["person.name", "person.household_members", "person.si_contribution_base"],
        "purpose": {"service_item": "330100-GZF-001", "case_no": "ZJJ-2026-000123"},
        "on_behalf_of": DEMO_CASEWORKER,
    }
    return (
        "Try a query (住建局 asks 公安局 and 人社局 for a public-rental-housing case):\n"
        f"  .venv/bin/shuyuan query --url {base_url} --as zjj --client zjj-housing --item 330100-GZF-001 \\\n"
        f"      --case ZJJ-2026-000123 --on-behalf-of {DEMO_CASEWORKER} --person {demo_person} \\\n"
        "      person.name person.household_members person.si_contribution_base\n"
        "or with curl (a token from the system's key, var/keys/systems/zjj-housing.jwk):\n"
        f"  curl -s -X POST {base_url}/v1/queries -H 'Content-Type: application/json' \\\n"
        f'      -H "Authorization: Bearer $(.venv/bin/shuyuan token --url {base_url} '
        '--client zjj-housing)" \\\n'
        f"      -d '{json.dumps(body, ensure_ascii=False)[:-1]}, "
        """"requested_at": "'"$(date -u +%FT%TZ)"'"}'\n"""
        f"API documentation: {base_url}/docs"
    )


def citizen_banner(base_url: str, gateway: object) -> str:
    """Where the citizen page is, and how one signs in to it here."""
    from shuyuan.dev_idp.mount import MOUNT_PATH

    mounted = any(getattr(route, "path", None) == MOUNT_PATH for route in getattr(gateway, "routes", ()))
    how = (
        f"sign in through the development identity provider ({base_url}{MOUNT_PATH}): pick the demo person"
        if mounted
        else "sign in through the configured identity provider (SHUYUAN_TRANSPARENCY_OIDC_ISSUER)"
    )
    return f"Citizen page (数据使用记录): {base_url}/citizen — {how}"


@app.command()
def run(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the SQLite files live")] = DEFAULT_DATA,
) -> None:
    """Run the embedded exchange: SQLite, in-process transport, sample departments and connectors."""
    import uvicorn

    from console.settings import ConsoleSettings
    from console.users.service import demo_logins
    from shuyuan.embedded import build_embedded

    _logging()
    console = ConsoleSettings()
    # A wildcard address is not one a browser can open: the page and its provider are on loopback then.
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"  # noqa: S104 (compared, not bound)
    embedded = build_embedded(data_dir, console_settings=console, demo_accounts=True, base_url=base)
    typer.echo(f"Shuyuan embedded exchange on {base} (data in {data_dir.resolve()})")
    typer.echo(demo_commands(base, embedded.subjects.demo_person))
    typer.echo(demo_logins(f"{base}/console", console))
    typer.echo(citizen_banner(base, embedded.app))
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

    from exchange.settings import GatewaySettings
    from shuyuan import sample_catalogue
    from shuyuan.app import create_app

    _logging()
    settings = GatewaySettings()
    prepare = sample_catalogue.seed if seed_samples else None
    scheme = "https" if settings.tls_certfile else "http"
    uvicorn.run(
        # Without SHUYUAN_PUBLIC_URL, development's citizen page and provider live at this address.
        create_app(settings, prepare=prepare, base_url=f"{scheme}://{host}:{port}"),
        host=host,
        port=port,
        log_level="warning",
        **settings.uvicorn_ssl_options(),
    )


@connector_app.command("run")
def connector_run(
    config: Annotated[Path, typer.Option("--config", exists=True, dir_okay=False, help="Department YAML")],
    data_dir: Annotated[Path | None, typer.Option(help="Base folder of relative SQLite paths")] = None,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (overrides the file)")
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            envvar="SHUYUAN_KAFKA_NAMESPACE",
            help="The deployment's Kafka namespace (overrides the file's kafka.namespace; default shuyuan)",
        ),
    ] = None,
    keys_dir: Annotated[
        Path | None,
        typer.Option(help="The department's private keys (default: var/keys/departments/<dept>)"),
    ] = None,
    gateway_jwks: Annotated[
        Path, typer.Option(help="The gateway's request keys to trust (`shuyuan keys gateway-jwks`)")
    ] = GATEWAY_JWKS,
    url: Annotated[str, typer.Option(help="Gateway base URL (the registry's key directory)")] = (
        "http://127.0.0.1:8000"
    ),
    client: Annotated[
        str | None, typer.Option(help="client_id of this department's system (default: its only one)")
    ] = None,
    system_keys: Annotated[Path, typer.Option(help="Folder of the systems' private keys")] = SYSTEM_KEYS,
    ca: Annotated[Path | None, typer.Option(help="CA certificate of an HTTPS gateway")] = None,
) -> None:
    """Serve one department's request topic from its own database until interrupted.

    Only requests signed by a key of `--gateway-jwks` are answered; consumers' encryption keys are
    looked up in the registry at `--url`, authenticated as this department's system.
    """
    from pydantic import ValidationError

    from connectors import keys as department_keys
    from connectors.config import KafkaConfig, load_config
    from connectors.kafka_server import KafkaConnectorServer
    from connectors.key_directory import RegistryKeys, load_gateway_keys
    from connectors.runtime import Connector

    _logging()
    cfg = load_config(config, base_dir=data_dir)
    if namespace is not None:
        try:
            kafka = KafkaConfig.model_validate(cfg.kafka.model_dump() | {"namespace": namespace})
        except ValidationError as exc:
            raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--namespace") from exc
        cfg = cfg.model_copy(update={"kafka": kafka})
    names = cfg.kafka.names()
    folder = keys_dir or department_keys.default_dir(DEFAULT_DATA, cfg.department)
    if not folder.is_dir():
        typer.echo(f"no private keys of {cfg.department!r} in {folder} (see docs/crypto.md)", err=True)
        raise typer.Exit(2)
    try:
        trusted = load_gateway_keys(gateway_jwks)
    except ValueError as exc:
        typer.echo(f"{exc} (the gateway's request keys: see docs/security.md)", err=True)
        raise typer.Exit(2) from exc
    auth = _token_auth(url, system_keys, client or _only_system(system_keys, cfg.department), ca)
    http = httpx.Client(base_url=url, timeout=10, verify=str(ca) if ca else True)
    directory = RegistryKeys(lambda method, path: http.request(method, path, auth=auth))
    client_config = cfg.kafka.client_config(cfg.department, bootstrap=bootstrap)
    servers = client_config["bootstrap_servers"]
    connector = Connector(
        cfg,
        department_keys.load(folder, cfg.department),
        gateway_keys=trusted,
        consumer_keys=directory.encryption_key,
        reply_topic=names.reply_topic,
    )
    server = KafkaConnectorServer(
        connector,
        client_config,
        names=names,
        group_id=cfg.kafka.group_id,
        membership=cfg.kafka.membership(),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    group = cfg.kafka.group_id or names.connector_group(cfg.department)
    topic = names.request_topic(cfg.department)
    typer.echo(f"connector {cfg.department} serving {topic} (group {group}) on {','.join(servers)}")
    server.serve(stop)


@db_app.command("upgrade")
def db_upgrade(
    database_url: Annotated[str | None, typer.Option(help="Default: SHUYUAN_DATABASE_URL")] = None,
) -> None:
    """Bring the database schema to the latest revision."""
    from exchange.settings import GatewaySettings
    from registry.db import make_engine
    from shuyuan.app import migrate

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
    from exchange.settings import GatewaySettings
    from registry.db import make_engine
    from shuyuan import sample_catalogue, sample_systems
    from shuyuan.app import migrate
    from shuyuan.embedded import ensure_department_keys, ensure_sample_data
    from shuyuan.keys_cli import write_gateway_jwks

    engine = make_engine(database_url or GatewaySettings().database_url)
    migrate(engine)
    loaded = sample_catalogue.seed(engine)
    departments = [code for code, _, _ in sample_catalogue.DEPARTMENTS]
    sample_catalogue.register_keys(engine, ensure_department_keys(data_dir, departments).values())
    sample_systems.register(engine, sample_systems.ensure_keys(data_dir))  # the systems' OAuth keys
    engine.dispose()
    # The public keys of this gateway's requests, for the sample connectors to pin.
    write_gateway_jwks(data_dir / "keys" / "gateway" / "request-jwks.json")
    subjects = ensure_sample_data(data_dir)
    typer.echo(("loaded" if loaded else "already loaded") + f"; demo person {subjects.demo_person}")


@app.command()
def query(
    elements: Annotated[list[str], typer.Argument(help="Element codes, e.g. person.name")],
    department: Annotated[str, typer.Option("--as", help="Code of the asking department")],
    item: Annotated[str, typer.Option("--item", help="Service item code (the purpose)")],
    case: Annotated[str, typer.Option("--case", help="Case number (办件编号)")],
    on_behalf_of: Annotated[
        str, typer.Option("--on-behalf-of", help="The caseworker: a user id within the asking department")
    ],
    person: Annotated[str | None, typer.Option(help="Resident ID of the subject")] = None,
    enterprise: Annotated[str | None, typer.Option(help="Unified social credit code of the subject")] = None,
    query_id: Annotated[str | None, typer.Option(help="Idempotency key (default: a new one)")] = None,
    url: Annotated[str, typer.Option(help="Gateway base URL")] = "http://127.0.0.1:8000",
    keys_dir: Annotated[
        Path | None,
        typer.Option(help="The asking department's private keys (default: var/keys/departments/<dept>)"),
    ] = None,
    ca: Annotated[Path | None, typer.Option(help="CA certificate of an HTTPS gateway")] = None,
    client: Annotated[
        str | None, typer.Option(help="client_id of the asking system (default: the department's only one)")
    ] = None,
    system_keys: Annotated[Path, typer.Option(help="Folder of the systems' private keys")] = SYSTEM_KEYS,
) -> None:
    """Ask the exchange for data about a person or an enterprise; print the decrypted, verified answer."""
    from connectors import keys as department_keys
    from connectors.client import ConsumerClient, GatewayError

    if (person is None) == (enterprise is None):
        raise typer.BadParameter("give exactly one of --person or --enterprise")
    folder = keys_dir or department_keys.default_dir(DEFAULT_DATA, department)
    if not folder.is_dir():
        typer.echo(f"no private keys of {department!r} in {folder} (see docs/crypto.md)", err=True)
        raise typer.Exit(2)
    keys = department_keys.load(folder, department)
    subject_type: SubjectType = "person" if person else "enterprise"
    try:
        with httpx.Client(base_url=url, timeout=30, verify=str(ca) if ca else True) as http:
            auth = _token_auth(url, system_keys, client or _only_system(system_keys, department), ca)
            answer = ConsumerClient(http, keys=keys, auth=auth).query(
                subject_type=subject_type,
                subject_id=person or enterprise or "",
                elements=elements,
                service_item=item,
                case_no=case,
                on_behalf_of=on_behalf_of,
                query_id=query_id or f"cli-{uuid.uuid4().hex}",
                extra={"requested_at": datetime.now(UTC).isoformat()},
            )
    except TokenError as exc:
        typer.echo(json.dumps(exc.body, ensure_ascii=False, indent=2))
        raise typer.Exit(1) from exc
    except GatewayError as exc:
        typer.echo(json.dumps(exc.problem, ensure_ascii=False, indent=2))
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the gateway at {url}: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(answer.as_dict(), ensure_ascii=False, indent=2))


@app.command()
def token(
    client: Annotated[str, typer.Option(help="client_id of the system, e.g. zjj-housing")],
    url: Annotated[str, typer.Option(help="Gateway base URL")] = "http://127.0.0.1:8000",
    scope: Annotated[str | None, typer.Option(help="Space-separated scopes (default: all granted)")] = None,
    system_keys: Annotated[Path, typer.Option(help="Folder of the systems' private keys")] = SYSTEM_KEYS,
    ca: Annotated[Path | None, typer.Option(help="CA certificate of an HTTPS gateway")] = None,
) -> None:
    """Print an access token for a system (private_key_jwt with its key file; cached until near expiry)."""
    try:
        typer.echo(_token_auth(url, system_keys, client, ca, scope=scope).source.token())
    except TokenError as exc:
        typer.echo(json.dumps(exc.body, ensure_ascii=False, indent=2), err=True)
        raise typer.Exit(1) from exc
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach the gateway at {url}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _only_system(folder: Path, department: str) -> str:
    found = sorted(p.stem for p in folder.glob(f"{department}-*.jwk"))
    if len(found) != 1:
        typer.echo(f"name the system with --client ({len(found)} key files of {department!r} here)", err=True)
        raise typer.Exit(2)
    return found[0]


def _token_auth(
    url: str, folder: Path, client: str, ca: Path | None, *, scope: str | None = None
) -> TokenAuth:
    """A token source from the system's key file; the token is cached next to it (mode 0600)."""
    key_file = folder / f"{client}.jwk"
    if not key_file.is_file():
        typer.echo(f"no private key of system {client!r} at {key_file}", err=True)
        raise typer.Exit(2)
    source = TokenSource(
        base_url=url,
        client_id=client,
        private_jwk=read_key_file(key_file),
        scope=scope,
        # One cache file per scope set; a digest because hash() differs between processes.
        cache_path=key_file.with_suffix(
            ".token" if scope is None else f".{hashlib.sha256(scope.encode()).hexdigest()[:12]}.token"
        ),
        verify=str(ca) if ca else True,
    )
    return TokenAuth(source)


def main() -> None:
    """Entry point for `python -m shuyuan`."""
    app(prog_name="shuyuan")


if __name__ == "__main__":
    main()

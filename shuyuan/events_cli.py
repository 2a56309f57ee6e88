"""`shuyuan connector events`: a department's event subscriber (双告知), keeping what it is told;
`shuyuan event publish`: publish one event as a department's system (the SDK's two steps).

The subscriber is apart from `connector run` because a department may only receive events (the
food-safety office answers no requests) and because the two consume different topics in different
groups.
"""

import threading
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DATA = Path("var")
event_app = typer.Typer(help="Publish events (双告知, docs/events.md).", no_args_is_help=True)


def connector_events(
    department: Annotated[str, typer.Option(help="The department whose events to receive")],
    store: Annotated[
        Path | None,
        typer.Option(help="SQLite file the sample handler keeps events in (table received_event)"),
    ] = None,
    bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers")] = "127.0.0.1:9092",
    namespace: Annotated[
        str, typer.Option(envvar="SHUYUAN_KAFKA_NAMESPACE", help="The deployment's Kafka namespace")
    ] = "shuyuan",
    keys_dir: Annotated[
        Path | None,
        typer.Option(help="The department's private keys (default: var/keys/departments/<dept>)"),
    ] = None,
    url: Annotated[str, typer.Option(help="Gateway base URL")] = "http://127.0.0.1:8000",
    client: Annotated[
        str | None, typer.Option(help="client_id of this department's system (default: its only one)")
    ] = None,
    system_keys: Annotated[Path, typer.Option(help="Folder of the systems' private keys")] = (
        DEFAULT_DATA / "keys" / "systems"
    ),
    ca: Annotated[Path | None, typer.Option(help="CA certificate of an HTTPS gateway")] = None,
    pull: Annotated[
        bool,
        typer.Option(
            "--pull",
            help="Pull the copies over HTTP instead of reading the Kafka topic (no broker needed; the "
            "embedded exchange of `shuyuan run`)",
        ),
    ] = False,
    poll_s: Annotated[float, typer.Option(help="With --pull: seconds between two rounds")] = 1.0,
    gateway_jwks: Annotated[
        Path,
        typer.Option(
            help="The gateway's signing keys, which vouch for its recalls (`shuyuan keys gateway-jwks`)"
        ),
    ] = DEFAULT_DATA / "keys" / "gateway" / "request-jwks.json",
) -> None:
    """Receive the department's events until interrupted: verify, report, store, acknowledge."""
    import signal

    import httpx

    from connectors import keys as department_keys
    from connectors.event_subscriber import EventSubscriber, sqlite_handler
    from connectors.events import EventClient
    from connectors.key_directory import load_gateway_keys
    from protocol.topics import KafkaNames
    from shuyuan.cli import _logging, _only_system, _token_auth  # at run time: cli imports this module

    _logging()
    folder = keys_dir or department_keys.default_dir(DEFAULT_DATA, department)
    if not folder.is_dir():
        typer.echo(f"no private keys of {department!r} in {folder} (see docs/crypto.md)", err=True)
        raise typer.Exit(2)
    try:
        trusted = load_gateway_keys(gateway_jwks)
    except ValueError as exc:
        typer.echo(f"{exc} (the gateway's signing keys: see docs/security.md)", err=True)
        raise typer.Exit(2) from exc
    names = KafkaNames(namespace)
    auth = _token_auth(url, system_keys, client or _only_system(system_keys, department), ca)
    http = httpx.Client(base_url=url, timeout=10, verify=str(ca) if ca else True)
    events = EventClient(http, keys=department_keys.load(folder, department), auth=auth, gateway_keys=trusted)
    path = store or DEFAULT_DATA / "events" / f"{department}.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if pull:
        from connectors.event_pull import EventPuller

        typer.echo(f"events of {department}: pulled from {url} every {poll_s:g} s -> {path}")
        EventPuller(events, sqlite_handler(path), poll_s=poll_s).serve(stop)
        return
    subscriber = EventSubscriber(
        events,
        sqlite_handler(path),
        {"bootstrap_servers": bootstrap.split(","), "client_id": f"shuyuan-events-{department}"},
        names=names,
    )
    topic, group = names.event_topic(department), names.event_group(department)
    typer.echo(f"events of {department}: {topic} (group {group}) -> {path}")
    subscriber.serve(stop)


@event_app.command("publish")
def event_publish(
    department: Annotated[str, typer.Option(help="The publishing department (the type's source)")],
    type_: Annotated[str, typer.Option("--type", help="Event type, e.g. license.issued")],
    subject_type: Annotated[str, typer.Option(help="person or enterprise")],
    subject_id: Annotated[str, typer.Option(help="Resident ID or unified social credit code")],
    payload: Annotated[str, typer.Option(help="The payload, a JSON object (routing fields taken from it)")],
    event_id: Annotated[str | None, typer.Option(help="Idempotency key (default: a fresh one)")] = None,
    keys_dir: Annotated[Path | None, typer.Option(help="The department's private keys")] = None,
    url: Annotated[str, typer.Option(help="Gateway base URL")] = "http://127.0.0.1:8000",
    client: Annotated[str | None, typer.Option(help="client_id of the department's system")] = None,
    system_keys: Annotated[Path, typer.Option(help="Folder of the systems' private keys")] = (
        DEFAULT_DATA / "keys" / "systems"
    ),
    ca: Annotated[Path | None, typer.Option(help="CA certificate of an HTTPS gateway")] = None,
) -> None:
    """Publish one event; prints the gateway's answer (each recipient's delivery and its state)."""
    import json

    import httpx

    from connectors import keys as department_keys
    from connectors.client import GatewayError
    from connectors.events import EventClient
    from shuyuan.cli import _only_system, _token_auth  # at run time: cli imports this module

    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise typer.BadParameter("not JSON", param_hint="--payload") from exc
    if not isinstance(body, dict):
        raise typer.BadParameter("a JSON object", param_hint="--payload")
    folder = keys_dir or department_keys.default_dir(DEFAULT_DATA, department)
    if not folder.is_dir():
        typer.echo(f"no private keys of {department!r} in {folder} (see docs/crypto.md)", err=True)
        raise typer.Exit(2)
    auth = _token_auth(url, system_keys, client or _only_system(system_keys, department), ca)
    http = httpx.Client(base_url=url, timeout=10, verify=str(ca) if ca else True)
    events = EventClient(http, keys=department_keys.load(folder, department), auth=auth)
    try:
        read = events.publish(
            type=type_, subject_type=subject_type, subject_id=subject_id, payload=body, event_id=event_id
        )
    except GatewayError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(read, ensure_ascii=False, indent=2))

"""A private copy of the sample exchange on the real broker and database, per test.

Department codes get a random suffix, so each test has its own request topics and consumer groups
and nothing one test leaves on the broker can answer another's query.
"""

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from connectors import keys as department_keys
from connectors.client import ConsumerClient
from connectors.config import load_config
from connectors.events import EventClient
from connectors.kafka_server import KafkaConnectorServer
from connectors.keys import DepartmentKeys
from connectors.runtime import Connector
from connectors.samples.data import SampleSubjects, generate
from exchange.request_signing import RequestSigner
from exchange.settings import GatewaySettings
from protocol.envelope import SourceReply, SourceRequest
from protocol.signed_messages import open_reply
from protocol.topics import DEFAULT, KafkaNames
from registry.db import make_engine
from shuyuan import sample_catalogue, sample_systems
from shuyuan.app import create_app, migrate
from shuyuan.embedded import SAMPLE_DEPARTMENTS, RegistryConsumerKeys, sample_connector_configs
from tests.authkit import fetch_token


@dataclass
class World:
    """One isolated sample exchange."""

    suffix: str
    database_url: str
    bootstrap: str
    data_dir: Path
    subjects: SampleSubjects
    keys_dir: Path
    # The Kafka names of this world's gateways and connectors (a test may give each its own namespace).
    names: KafkaNames = DEFAULT
    # This world's gateway request key: its gateways sign with it, its connectors pin it.
    request_key: str = field(default_factory=lambda: f"world-request-key-{uuid.uuid4().hex}")
    stops: list[threading.Event] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    _engine: Engine | None = None

    def dept(self, code: str) -> str:
        """This world's name for a sample department."""
        return f"{code}{self.suffix}"

    def settings(self, **overrides: object) -> GatewaySettings:
        """Gateway settings on this world's database and the real broker."""
        values: dict[str, object] = {
            "database_url": self.database_url,
            "transport": "kafka",
            "kafka_bootstrap": self.bootstrap,
            "source_timeout_s": 5.0,
            "environment": "test",
            "request_signing_key": self.request_key,
            "kafka_namespace": self.names.namespace,
        }
        return GatewaySettings(**(values | overrides))  # type: ignore[arg-type]

    def keys(self, code: str) -> DepartmentKeys:
        """A sample department's private keys in this world (generated at first use)."""
        dept = self.dept(code)
        return department_keys.ensure(self.keys_dir / "departments" / dept, dept)[0]

    def gateway(self, **overrides: object) -> FastAPI:
        """A gateway app (not yet started) seeded with this world's registry, keys and systems."""
        return create_app(self.settings(**overrides), prepare=self._prepare)

    def seed(self) -> None:
        """Migrate and seed this world's registry without a gateway (tests of connectors alone)."""
        engine = self._registry_engine()
        migrate(engine)
        self._prepare(engine)

    def _prepare(self, engine: Engine) -> None:
        system_keys = sample_systems.ensure_keys(self.keys_dir.parent, suffix=self.suffix)
        sample_catalogue.seed(engine, department_suffix=self.suffix)
        sample_catalogue.register_keys(engine, [self.keys(c) for c, _, _ in sample_catalogue.DEPARTMENTS])
        sample_systems.register(engine, system_keys, suffix=self.suffix)

    def consumer(self, client: Any, code: str = "zjj", system: str = "zjj-housing") -> ConsumerClient:
        """A department's consumer SDK on a started gateway client, with a real access token."""
        cid = f"{system}{self.suffix}"
        token = fetch_token(client, sample_systems.key_path(self.keys_dir.parent, cid), cid)
        return ConsumerClient(client, keys=self.keys(code), auth=token)

    def events(self, client: Any, code: str) -> EventClient:
        """A sample department's events SDK on a started gateway client, with a real access token."""
        cid = next(f"{c}{self.suffix}" for c, dept, _, _ in sample_systems.SYSTEMS if dept == code)
        token = fetch_token(client, sample_systems.key_path(self.keys_dir.parent, cid), cid)
        # The gateway's keys pinned as a connector pins them: they vouch for the exchange's recalls.
        return EventClient(client, keys=self.keys(code), auth=token, gateway_keys=self.signer().public_keys())

    def system_token(self, client: Any, code: str) -> str:
        """A real access token of a sample department's system (its only one)."""
        cid = next(f"{c}{self.suffix}" for c, dept, _, _ in sample_systems.SYSTEMS if dept == code)
        return fetch_token(client, sample_systems.key_path(self.keys_dir.parent, cid), cid)

    def signer(self) -> RequestSigner:
        """The request signer this world's gateways use."""
        return RequestSigner.from_entries([self.request_key])

    def sign(self, request: SourceRequest) -> bytes:
        """A request as this world's gateway would send it."""
        return self.signer().sign(request)

    def accept(self, request: SourceRequest) -> Callable[[bytes], SourceReply]:
        """The gateway's reply check for a request, with the asked source's own signing keys."""
        source = next(c for c, _, _ in sample_catalogue.DEPARTMENTS if self.dept(c) == request.source)
        keys = self.keys(source).signing
        return lambda data: open_reply(data, request=request, resolve=keys.get)

    def connector(self, code: str, *, names: KafkaNames | None = None) -> Connector:
        """A sample department's connector, pinning this world's gateway key, on the Kafka reply topic."""
        config = load_config(sample_connector_configs()[code], base_dir=self.data_dir)
        config = config.model_copy(update={"department": self.dept(code)})
        return Connector(
            config,
            self.keys(code),
            gateway_keys=self.signer().public_keys(),
            consumer_keys=RegistryConsumerKeys(self._registry_engine),
            reply_topic=(names or self.names).reply_topic,
        )

    def _registry_engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def start_connector(
        self,
        code: str,
        *,
        wrap: Callable[[Connector], Connector] | None = None,
        client_config: dict[str, Any] | None = None,
        membership: dict[str, Any] | None = None,
        names: KafkaNames | None = None,
    ) -> KafkaConnectorServer:
        """Run a sample department's connector against the broker until the test ends."""
        connector = self.connector(code, names=names)
        server = KafkaConnectorServer(
            wrap(connector) if wrap else connector,
            client_config or {"bootstrap_servers": self.bootstrap.split(",")},
            names=names or self.names,
            membership=membership,
        )
        stop = threading.Event()
        thread = threading.Thread(target=server.serve, args=(stop,), daemon=True, name=f"connector-{code}")
        thread.start()
        self.stops.append(stop)
        self.threads.append(thread)
        if not server.ready.wait(60):
            pytest.fail(f"connector {code} did not join its consumer group within 60 s")
        return server

    def start_sources(self, codes: tuple[str, ...] = SAMPLE_DEPARTMENTS) -> None:
        """Run the connectors of these source departments (default: every sample source)."""
        for code in codes:
            self.start_connector(code)


@pytest.fixture
def world(pg_database: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[World]:
    """An isolated sample exchange; connectors started in it are stopped at the end."""
    yield from open_world(pg_database, kafka_bootstrap, tmp_path)


def open_world(pg_database: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[World]:
    """The `world` fixture's body, for fixtures of other folders (tests/security)."""
    data_dir = tmp_path / "departments"
    data_dir.mkdir()
    subjects = generate(data_dir)
    w = World(f"_{uuid.uuid4().hex[:8]}", pg_database, kafka_bootstrap, data_dir, subjects, tmp_path / "keys")
    yield w
    for stop in w.stops:
        stop.set()
    for thread in w.threads:
        thread.join(15)
    if w._engine is not None:
        w._engine.dispose()

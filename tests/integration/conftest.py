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
from connectors.kafka_server import KafkaConnectorServer
from connectors.keys import DepartmentKeys
from connectors.runtime import Connector
from connectors.samples.data import SampleSubjects, generate
from exchange.settings import GatewaySettings
from shuyuan import sample_catalogue, sample_systems
from shuyuan.app import create_app
from shuyuan.embedded import sample_connector_configs
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
    stops: list[threading.Event] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

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
        }
        return GatewaySettings(**(values | overrides))  # type: ignore[arg-type]

    def keys(self, code: str) -> DepartmentKeys:
        """A sample department's private keys in this world (generated at first use)."""
        dept = self.dept(code)
        return department_keys.ensure(self.keys_dir / "departments" / dept, dept)[0]

    def gateway(self, **overrides: object) -> FastAPI:
        """A gateway app (not yet started) seeded with this world's registry, keys and systems."""
        system_keys = sample_systems.ensure_keys(self.keys_dir.parent, suffix=self.suffix)

        def prepare(engine: Engine) -> None:
            sample_catalogue.seed(engine, department_suffix=self.suffix)
            sample_catalogue.register_keys(engine, [self.keys(c) for c, _, _ in sample_catalogue.DEPARTMENTS])
            sample_systems.register(engine, system_keys, suffix=self.suffix)

        return create_app(self.settings(**overrides), prepare=prepare)

    def consumer(self, client: Any, code: str = "zjj", system: str = "zjj-housing") -> ConsumerClient:
        """A department's consumer SDK on a started gateway client, with a real access token."""
        cid = f"{system}{self.suffix}"
        token = fetch_token(client, sample_systems.key_path(self.keys_dir.parent, cid), cid)
        return ConsumerClient(client, keys=self.keys(code), auth=token)

    def start_connector(
        self,
        code: str,
        *,
        wrap: Callable[[Connector], Connector] | None = None,
        client_config: dict[str, Any] | None = None,
        membership: dict[str, Any] | None = None,
    ) -> KafkaConnectorServer:
        """Run a sample department's connector against the broker until the test ends."""
        config = load_config(sample_connector_configs()[code], base_dir=self.data_dir)
        config = config.model_copy(update={"department": self.dept(code)})
        connector = Connector(config, self.keys(code))
        server = KafkaConnectorServer(
            wrap(connector) if wrap else connector,
            client_config or {"bootstrap_servers": self.bootstrap.split(",")},
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


@pytest.fixture
def world(pg_database: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[World]:
    """An isolated sample exchange; connectors started in it are stopped at the end."""
    data_dir = tmp_path / "departments"
    data_dir.mkdir()
    subjects = generate(data_dir)
    w = World(f"_{uuid.uuid4().hex[:8]}", pg_database, kafka_bootstrap, data_dir, subjects, tmp_path / "keys")
    yield w
    for stop in w.stops:
        stop.set()
    for thread in w.threads:
        thread.join(15)

"""A private copy of the sample exchange on the real broker and database, per test.

Department codes get a random suffix, so each test has its own request topics and consumer groups
and nothing one test leaves on the broker can answer another's query.
"""

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI

from connectors.config import load_config
from connectors.kafka_server import KafkaConnectorServer
from connectors.runtime import Connector
from connectors.samples.data import SampleSubjects, generate
from exchange.app import create_app
from exchange.settings import GatewaySettings
from shuyuan import sample_catalogue
from shuyuan.embedded import sample_connector_configs


@dataclass
class World:
    """One isolated sample exchange."""

    suffix: str
    database_url: str
    bootstrap: str
    data_dir: Path
    subjects: SampleSubjects
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

    def gateway(self, **overrides: object) -> FastAPI:
        """A gateway app (not yet started) seeded with this world's registry."""
        return create_app(
            self.settings(**overrides),
            prepare=lambda engine: sample_catalogue.seed(engine, department_suffix=self.suffix),
        )

    def start_connector(
        self, code: str, *, wrap: Callable[[Connector], Connector] | None = None
    ) -> KafkaConnectorServer:
        """Run a sample department's connector against the broker until the test ends."""
        config = load_config(sample_connector_configs()[code], base_dir=self.data_dir)
        config = config.model_copy(update={"department": self.dept(code)})
        connector = Connector(config)
        server = KafkaConnectorServer(
            wrap(connector) if wrap else connector, {"bootstrap_servers": self.bootstrap.split(",")}
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
    w = World(f"_{uuid.uuid4().hex[:8]}", pg_database, kafka_bootstrap, data_dir, subjects)
    yield w
    for stop in w.stops:
        stop.set()
    for thread in w.threads:
        thread.join(15)

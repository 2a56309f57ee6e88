"""The embedded exchange: registry, gateway and the sample departments' connectors in one process.

SQLite and the in-process transport: nothing to install, for a first run and for unit tests.
"""

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from connectors.config import load_config
from connectors.runtime import Connector
from connectors.samples.data import SampleSubjects, generate
from exchange.app import create_app
from exchange.settings import GatewaySettings
from exchange.transport.memory import MemoryTransport
from shuyuan import sample_catalogue

SAMPLE_CONFIGS = Path(__file__).resolve().parent.parent / "connectors" / "samples"
SAMPLE_DEPARTMENTS = ("psb", "hrss", "amr")


@dataclass
class Embedded:
    """The app and what a caller may want to look at."""

    app: FastAPI
    transport: MemoryTransport
    connectors: dict[str, Connector]
    subjects: SampleSubjects


def sample_connector_configs() -> dict[str, Path]:
    """The YAML file of each sample department."""
    return {dept: SAMPLE_CONFIGS / f"{dept}.yaml" for dept in SAMPLE_DEPARTMENTS}


def ensure_sample_data(data_dir: Path) -> SampleSubjects:
    """Create the sample departments' databases unless they exist; return the demo subjects."""
    dept_dir = data_dir / "departments"
    from connectors.samples.data import sample_subjects

    if all((dept_dir / f"{d}.sqlite").exists() for d in SAMPLE_DEPARTMENTS):
        return sample_subjects()
    dept_dir.mkdir(parents=True, exist_ok=True)
    return generate(dept_dir)


def build_embedded(data_dir: Path, settings: GatewaySettings | None = None) -> Embedded:
    """Assemble the embedded exchange on SQLite files under data_dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    subjects = ensure_sample_data(data_dir)
    settings = settings or GatewaySettings(
        database_url=f"sqlite:///{(data_dir / 'shuyuan.db').resolve()}", transport="memory"
    )
    transport = MemoryTransport()
    connectors = {}
    for dept, path in sample_connector_configs().items():
        connector = Connector(load_config(path, base_dir=data_dir / "departments"))
        transport.register(dept, connector.handle)
        connectors[dept] = connector
    app = create_app(settings, transport=transport, prepare=sample_catalogue.seed)
    return Embedded(app=app, transport=transport, connectors=connectors, subjects=subjects)

"""The embedded exchange: registry, gateway and the sample departments' connectors in one process.

SQLite and the in-process transport: nothing to install, for a first run and for unit tests.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from joserfc.jwk import Key
from sqlalchemy import Engine

from connectors import keys as department_keys
from connectors.config import load_config
from connectors.keys import DepartmentKeys
from connectors.runtime import Connector
from connectors.samples.data import SampleSubjects, generate
from console.citizen.settings import CitizenSettings
from console.settings import ConsoleSettings
from console.users import service as console_users
from exchange.request_signing import RequestSigner
from exchange.settings import GatewaySettings
from exchange.transparency.settings import TransparencySettings
from exchange.transport.memory import MemoryTransport
from protocol.jose import import_public
from registry.db import unit_of_work
from registry.keys.directory import KeySnapshot, load_keys
from shuyuan import sample_catalogue, sample_systems
from shuyuan.app import AppState, app_state, create_app

SAMPLE_CONFIGS = Path(__file__).resolve().parent.parent / "connectors" / "samples"
# The source departments, each with its connector YAML and register (connectors/samples/).
SAMPLE_DEPARTMENTS = ("psb", "hrss", "amr", "bdc", "court", "mzj", "wjw", "ybj")


@dataclass
class Embedded:
    """The app and what a caller may want to look at."""

    app: FastAPI
    transport: MemoryTransport
    connectors: dict[str, Connector]
    subjects: SampleSubjects
    keys: dict[str, DepartmentKeys]
    system_keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # client_id -> private JWK

    @property
    def state(self) -> AppState:
        """The app's typed state (engine, audit writer, keys, ...), once its lifespan has started."""
        return app_state(self.app)


class RegistryConsumerKeys:
    """Consumer encryption keys read from the registry database (in-process connectors only).

    A separate connector asks the registry API instead (connectors/key_directory.py). The snapshot is
    reused for `max_age_s`: the delay after which a revoked key stops being encrypted to.
    """

    def __init__(self, engine: Callable[[], Engine], *, max_age_s: float = 1.0) -> None:
        self._engine = engine
        self._max_age_s = max_age_s
        self._snapshot: KeySnapshot | None = None
        self._at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, department: str, kid: str) -> Key | None:
        """The department's valid encryption key of this kid, or None."""
        with self._lock:
            if self._snapshot is None or time.monotonic() - self._at >= self._max_age_s:
                self._snapshot, self._at = load_keys(self._engine()), time.monotonic()
            snapshot = self._snapshot
        view = snapshot.find(department, "enc", kid)
        return None if view is None else import_public(view.jwk, use="enc", profile=snapshot.profile)


def sample_connector_configs() -> dict[str, Path]:
    """The YAML file of each sample department."""
    return {dept: SAMPLE_CONFIGS / f"{dept}.yaml" for dept in SAMPLE_DEPARTMENTS}


def ensure_sample_data(data_dir: Path) -> SampleSubjects:
    """Create the sample departments' databases unless they exist; return the demo subjects."""
    dept_dir = data_dir / "departments"
    from connectors.samples.data import sample_subjects

    # A data folder from before a department was added lacks its file: every file is written again
    # then (the same rows, from the same seed), so the registers stay one consistent world.
    if all((dept_dir / f"{d}.sqlite").exists() for d in SAMPLE_DEPARTMENTS):
        return sample_subjects()
    dept_dir.mkdir(parents=True, exist_ok=True)
    return generate(dept_dir)


def ensure_department_keys(data_dir: Path, departments: list[str]) -> dict[str, DepartmentKeys]:
    """Each department's private keys under data_dir/keys/departments/<dept>/, generated at first start."""
    return {d: department_keys.ensure(department_keys.default_dir(data_dir, d), d)[0] for d in departments}


def build_embedded(
    data_dir: Path,
    settings: GatewaySettings | None = None,
    *,
    console_settings: ConsoleSettings | None = None,
    demo_accounts: bool = False,
    base_url: str | None = None,
    citizen_settings: CitizenSettings | None = None,
    transparency_settings: TransparencySettings | None = None,
) -> Embedded:
    """Assemble the embedded exchange on SQLite files under data_dir (demo console accounts on request).

    `base_url`: where browsers reach it (the citizen page's redirect URI, the development provider).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    subjects = ensure_sample_data(data_dir)
    settings = settings or GatewaySettings(
        database_url=f"sqlite:///{(data_dir / 'shuyuan.db').resolve()}", transport="memory"
    )
    keys = ensure_department_keys(data_dir, [code for code, _, _ in sample_catalogue.DEPARTMENTS])
    system_keys = sample_systems.ensure_keys(data_dir)  # the systems' OAuth key pairs (private_key_jwt)
    transport = MemoryTransport()
    connectors = {}
    # In-process connectors check requests as separate ones do: the gateway's keys pinned, the
    # consumer's encryption key looked up in the registry (never taken from the request).
    signer = RequestSigner.from_entries(settings.request_signing_entries())
    gateway_keys = signer.public_keys()
    # Published for separate processes that pin it too, as `sample load` does (an event puller, which
    # checks the exchange's recalls against it: `shuyuan connector events --pull`).
    jwks_file = data_dir / "keys" / "gateway" / "request-jwks.json"
    jwks_file.parent.mkdir(parents=True, exist_ok=True)
    jwks_file.write_text(json.dumps(signer.jwks(), indent=2) + "\n", encoding="utf-8")
    consumer_keys = RegistryConsumerKeys(lambda: app_state(app).engine)
    for dept, path in sample_connector_configs().items():
        connector = Connector(
            load_config(path, base_dir=data_dir / "departments"),
            keys[dept],
            gateway_keys=gateway_keys,
            consumer_keys=consumer_keys,
        )
        transport.register(dept, connector.handle)
        connectors[dept] = connector

    def prepare(engine: Engine) -> None:
        sample_catalogue.seed(engine)
        sample_catalogue.register_keys(engine, keys.values())  # public halves only; idempotent
        sample_systems.register(engine, system_keys)  # idempotent too
        if demo_accounts:
            with unit_of_work(engine) as session:  # only on an empty user table; never in production
                console_users.ensure_demo_accounts(session=session, settings=console)

    console = console_settings or ConsoleSettings()
    app = create_app(
        settings,
        transport=transport,
        prepare=prepare,
        console_settings=console,
        citizen_settings=citizen_settings,
        transparency_settings=transparency_settings,
        base_url=base_url,
        dev_idp_key_file=data_dir / "keys" / "dev-idp" / "signing.jwk",  # used in development only
    )
    return Embedded(
        app=app,
        transport=transport,
        connectors=connectors,
        subjects=subjects,
        keys=keys,
        system_keys=system_keys,
    )

"""The sample departments' client systems (OAuth clients) and their key pairs.

At first start each system gets an Ed25519 key pair: the private JWK goes to
`<data_dir>/keys/systems/<client_id>.jwk` (mode 0600), the public half into the registry. Running
again reuses the files and registers only what is missing (idempotent).
"""

from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from connectors.client_auth import generate_key, public_part, read_key_file, write_key_file
from registry.actors import Actor
from registry.db import unit_of_work
from registry.systems import service as systems
from registry.systems.models import KeyCreate, PublicJwk, SystemCreate

# `events`: every consumer receives (and acknowledges) the recall of values it was given (纠错回溯).
_CONSUMER_SCOPES = ["query", "corrections", "events", "registry:read"]
_SOURCE_SCOPES = ["query", "events", "corrections", "registry:read"]
# client_id, department, name, scopes
SYSTEMS: list[tuple[str, str, str, list[str]]] = [
    ("zjj-housing", "zjj", "住建局 公租房保障系统", _CONSUMER_SCOPES),
    ("xzsp-approval", "xzsp", "行政审批局 审批系统", _CONSUMER_SCOPES),
    ("psb-hukou", "psb", "公安局 户籍系统", _SOURCE_SCOPES),
    ("hrss-si", "hrss", "人社局 社保系统", _SOURCE_SCOPES),
    ("amr-registration", "amr", "市场监管局 登记系统", _SOURCE_SCOPES),
    ("bdc-registry", "bdc", "不动产登记中心 登记系统", _SOURCE_SCOPES),
    ("court-enforcement", "court", "人民法院 执行系统", _SOURCE_SCOPES),
    ("mzj-marriage", "mzj", "民政局 婚姻登记系统", _SOURCE_SCOPES),
    ("wjw-birth", "wjw", "卫健委 出生医学证明系统", _SOURCE_SCOPES),
    ("ybj-insurance", "ybj", "医保局 参保登记系统", _SOURCE_SCOPES),
    ("fso-supervision", "fso", "食安办 食品安全监管系统", ["events", "registry:read"]),
]
DEMO_CLIENT = "zjj-housing"


def key_dir(data_dir: Path) -> Path:
    """Where the sample systems' private keys live."""
    return data_dir / "keys" / "systems"


def key_path(data_dir: Path, client_id: str) -> Path:
    """The private JWK file of one system."""
    return key_dir(data_dir) / f"{client_id}.jwk"


def ensure_keys(data_dir: Path, *, suffix: str = "") -> dict[str, dict[str, Any]]:
    """Each sample system's private JWK, generated and written (0600) when its file is missing."""
    keys = {}
    for client_id, *_ in SYSTEMS:
        path = key_path(data_dir, f"{client_id}{suffix}")
        if not path.exists():
            write_key_file(path, generate_key())
        keys[f"{client_id}{suffix}"] = read_key_file(path)
    return keys


def register(engine: Engine, private_keys: dict[str, dict[str, Any]], *, suffix: str = "") -> int:
    """Register the sample systems and their public keys unless already there; returns keys added."""
    added = 0
    with unit_of_work(engine) as session:
        for client_id, dept, name, scopes in SYSTEMS:
            cid = f"{client_id}{suffix}"
            jwk = private_keys.get(cid)
            key_in = [KeyCreate(jwk=PublicJwk.model_validate(public_part(jwk)))] if jwk else []
            # Each system is registered as its own department would: no steward power is involved,
            # and none of these scopes is one only a steward grants.
            actor = Actor(name="sample-systems", department=f"{dept}{suffix}")
            system = systems.get_by_client_id(session=session, client_id=cid)
            if system is None:
                system_in = SystemCreate(
                    client_id=cid,
                    department=f"{dept}{suffix}",
                    name=name,
                    scopes=scopes,
                    keys=key_in,
                )
                systems.create(session=session, system_in=system_in, actor=actor)
                added += len(key_in)
            elif key_in and all(
                k.kid != key_in[0].jwk.kid for k in systems.list_keys(session=session, system=system)
            ):
                systems.add_key(session=session, system=system, key_in=key_in[0], actor=actor)
                added += 1
    return added

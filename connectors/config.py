"""A department connector's configuration file (YAML)."""

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

ValueType = Literal["string", "number", "integer", "boolean", "date", "json"]


class ElementQuery(BaseModel):
    """How to read one element from the department's own database."""

    model_config = ConfigDict(extra="forbid")
    sql: str = Field(description="A parameterised SELECT returning one column; `:subject_id` is bound")
    value_type: ValueType = "string"


class KafkaConfig(BaseModel):
    """How the connector reaches the exchange's broker."""

    model_config = ConfigDict(extra="forbid")
    bootstrap: str = "127.0.0.1:9092"
    group_id: str | None = Field(None, description="consumer group; default shuyuan.connector.<department>")
    security_protocol: Literal["PLAINTEXT", "SSL"] = Field(
        "PLAINTEXT", description="SSL: TLS with this connector's client certificate (`shuyuan pki client`)"
    )
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def client_config(self, department: str, *, bootstrap: str | None = None) -> dict[str, Any]:
        """kafka-python connection settings of this connector."""
        config: dict[str, Any] = {
            "bootstrap_servers": (bootstrap or self.bootstrap).split(","),
            "client_id": f"shuyuan-connector-{department}",
        }
        if self.security_protocol == "SSL":
            config |= {
                "security_protocol": "SSL",
                "ssl_cafile": self.ssl_cafile,
                "ssl_certfile": self.ssl_certfile,
                "ssl_keyfile": self.ssl_keyfile,
                "ssl_check_hostname": True,
            }
        return config


class ConnectorConfig(BaseModel):
    """One department's connector."""

    model_config = ConfigDict(extra="forbid")
    department: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    database_url: str = Field(description="SQLAlchemy URL of the department's own database")
    subject_type: Literal["person", "enterprise"] | None = Field(
        None, description="refuse other subject types"
    )
    elements: dict[str, ElementQuery]
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)


def load_config(path: Path, *, base_dir: Path | None = None) -> ConnectorConfig:
    """Read a connector YAML file; relative SQLite paths resolve against base_dir (default: its folder)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    config = ConnectorConfig.model_validate(raw)
    prefix = "sqlite:///"
    rel = config.database_url.removeprefix(prefix)
    if config.database_url.startswith(prefix) and not rel.startswith("/") and rel != ":memory:":
        resolved = ((base_dir or path.parent) / rel).resolve()
        config = config.model_copy(update={"database_url": f"{prefix}{resolved}"})
    return config

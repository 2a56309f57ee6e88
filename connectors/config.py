"""A department connector's configuration file (YAML)."""

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from protocol.topics import DEFAULT_NAMESPACE, NAMESPACE_PATTERN, KafkaNames

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
    namespace: str = Field(
        DEFAULT_NAMESPACE,
        pattern=NAMESPACE_PATTERN,
        description="the deployment's namespace (the gateway's SHUYUAN_KAFKA_NAMESPACE): every topic and "
        "group name starts with it",
    )
    group_id: str | None = Field(
        None, description="consumer group; default <namespace>.connector.<department>"
    )
    security_protocol: Literal["PLAINTEXT", "SSL"] = Field(
        "PLAINTEXT", description="SSL: TLS with this connector's client certificate (`shuyuan pki client`)"
    )
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # A crashed member keeps its partitions until its session times out (Kafka's default: 45 s), so a
    # restarted connector waited that long; 10 s with a 1 s heartbeat hands them over in seconds.
    session_timeout_ms: int = Field(
        10_000, ge=6_000, le=300_000, description="consumer-group session timeout"
    )
    heartbeat_interval_ms: int = Field(
        1_000, ge=100, le=60_000, description="heartbeat to the group coordinator"
    )
    group_instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="static membership (KIP-345): an instance restarted with the same id gets its "
        "partitions back at once; one id per running instance",
    )

    def names(self) -> KafkaNames:
        """The topic and group names of the deployment this connector serves."""
        return KafkaNames(self.namespace)

    def membership(self) -> dict[str, Any]:
        """The consumer-group membership settings of this connector's consumer."""
        return {
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "group_instance_id": self.group_instance_id,
            # Also the rebalance timeout: how long the coordinator holds a rebalance open for members
            # to rejoin. A poll's batch (500 requests of one SELECT each) takes far less, and Kafka's
            # 5 minutes kept a connector's commits refused for as long after a broker restart.
            "max_poll_interval_ms": 30_000,
        }

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

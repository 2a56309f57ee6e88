"""Settings of the audit log (prefix `SHUYUAN_AUDIT_`), nested in the gateway's settings."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.topics import AUDIT_TOPIC

# 网络安全法 第二十一条(三): network logs are kept for no less than six months.
MIN_RETENTION_DAYS = 180


class AuditSettings(BaseSettings):
    """Where the audit chain is written, how it is signed, how long it stays online."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_AUDIT_", extra="ignore")

    path: Literal["auto", "direct", "kafka"] = Field(
        "auto",
        description="direct: chain written in-process (group commit); kafka: publish to the audit topic "
        "for the sealer; auto: kafka when the transport is kafka, else direct",
    )
    topic: str = Field(AUDIT_TOPIC, description="the audit topic", pattern=r"^[A-Za-z0-9._-]{1,200}$")
    partitions: int = Field(1, ge=1, description="partitions of the audit topic (keyed by gateway id)")
    kafka_bootstrap: str | None = Field(
        None, description="bootstrap servers of the audit producer; the gateway's when unset"
    )
    delivery_timeout_s: float = Field(
        10.0, gt=0, le=120, description="how long a query waits for the broker's audit acknowledgement"
    )
    key_dir: Path = Field(Path("var/keys/audit"), description="where the Ed25519 audit key lives (0600)")
    checkpoint_every: int = Field(1000, ge=1, description="sign a checkpoint after this many records")
    checkpoint_interval_s: float = Field(60.0, gt=0, description="... or after this many seconds")
    retention_days: int = Field(
        MIN_RETENTION_DAYS,
        ge=MIN_RETENTION_DAYS,
        description="records stay online at least this long (网络安全法 第二十一条: >= 180 days)",
    )
    archive_dir: Path = Field(Path("var/audit-archive"), description="where archived ranges are written")

    def uses_kafka(self, transport: str) -> bool:
        """Whether the gateway publishes audit events to Kafka."""
        return self.path == "kafka" or (self.path == "auto" and transport == "kafka")

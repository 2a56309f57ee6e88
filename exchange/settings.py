"""Settings of the gateway: one typed object, built in the app factory (never at import time)."""

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_PLATFORM_KEY = "development-only-platform-key-change-me"


class GatewaySettings(BaseSettings):
    """Everything the gateway reads from the environment (prefix `SHUYUAN_`)."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="production refuses development secrets"
    )
    database_url: str = Field(
        "sqlite:///./var/shuyuan.db", description="SQLAlchemy URL of the gateway database"
    )
    transport: Literal["memory", "kafka"] = Field(
        "memory", description="how requests reach source departments"
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated")
    gateway_id: str = Field("gw-0", description="name of this gateway instance, written to the audit log")
    reply_partition: int = Field(
        0, ge=0, description="this instance's partition of `shuyuan.rep`; unique per instance"
    )
    reply_partitions: int = Field(
        12, ge=1, description="partitions of `shuyuan.rep` (upper bound of instances)"
    )
    request_partitions: int = Field(3, ge=1, description="partitions of each `shuyuan.req.<dept>` topic")
    source_timeout_s: float = Field(3.0, gt=0, le=60, description="how long to wait for a source's reply")
    catalogue_refresh_s: float = Field(5.0, gt=0, description="registry cache refresh period, seconds")
    platform_key: SecretStr = Field(
        SecretStr(DEV_PLATFORM_KEY), description="HMAC key of subject blind indexes and at-rest encryption"
    )
    audit_batch_max: int = Field(
        500, ge=1, description="audit rows written per database transaction, at most"
    )
    max_elements_per_query: int = Field(50, ge=1, le=500)
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="larger request bodies are refused with 413")

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> "GatewaySettings":
        if self.environment == "production" and self.platform_key.get_secret_value() == DEV_PLATFORM_KEY:
            raise ValueError("SHUYUAN_PLATFORM_KEY must be set in production")
        return self

    def kafka_client_config(self) -> dict[str, object]:
        """The connection settings every kafka-python client of this gateway shares."""
        return {
            "bootstrap_servers": self.kafka_bootstrap.split(","),
            "client_id": f"shuyuan-{self.gateway_id}",
        }

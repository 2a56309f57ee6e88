"""Settings of the audit log (prefix `SHUYUAN_AUDIT_`), nested in the gateway's settings."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from exchange.audit import keys

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
    # The audit topic is `<namespace>.audit` (SHUYUAN_KAFKA_NAMESPACE), like every other name. The old
    # SHUYUAN_AUDIT_TOPIC is refused rather than ignored: a deployment that had set it would otherwise
    # move its gateways and sealer to another topic silently and strand the events not yet sealed.
    topic: str | None = Field(None, description="removed: the audit topic comes from SHUYUAN_KAFKA_NAMESPACE")
    partitions: int = Field(1, ge=1, description="partitions of the audit topic (keyed by gateway id)")
    kafka_bootstrap: str | None = Field(
        None, description="bootstrap servers of the audit producer; the gateway's when unset"
    )
    delivery_timeout_s: float = Field(
        4.0,
        gt=0,
        le=120,
        description="how long a query waits for the broker's audit acknowledgement; a broker stall gives "
        "503 audit_unavailable within this plus SHUYUAN_SOURCE_TIMEOUT_S (docs/reliability.md)",
    )
    topic_retention_hours: int = Field(
        7 * 24,
        ge=24,
        description="retention of the audit topic: the longest sealer outage that loses nothing (set on the "
        "topic at every gateway and sealer start)",
    )
    sealer_max_lag: int = Field(
        50_000,
        ge=1,
        description="readiness (/readyz) fails while more audit events than this wait for the sealer",
    )
    key_dir: Path = Field(
        Path("var/keys/audit"),
        description="development: where the Ed25519 audit key is created at first start (0600) when "
        "SHUYUAN_AUDIT_SIGNING_KEY is unset",
    )
    signing_key: SecretStr | None = Field(
        None,
        description="the Ed25519 audit signing key of the sealing process: a PKCS#8 PEM file (0600) or "
        "the PEM itself; required in production (docs/crypto.md)",
    )
    pinned_keys: str = Field(
        "",
        description="audit public keys verification trusts, comma-separated: PEM files or SHA256:... "
        "fingerprints (docs/audit.md); never the keys a bundle or the database ships",
    )
    origin: str = Field(
        "shuyuan-audit",
        pattern=r"^[\x21-\x7e][\x20-\x7e]{0,198}$",
        description="the log's name in witness statements (exchange/audit/cosignature.py): one per chain, "
        "e.g. the platform's host name and `/audit`",
    )
    sealer_session_timeout_ms: int = Field(
        10_000,
        ge=6_000,
        le=300_000,
        description="consumer-group session of a sealer: a crashed sealer's partitions move on after this",
    )
    sealer_instance_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="static group membership (KIP-345): a sealer restarted with the same id takes its "
        "partitions back at once; one id per running sealer",
    )
    checkpoint_every: int = Field(1000, ge=1, description="sign a checkpoint after this many records")
    checkpoint_interval_s: float = Field(60.0, gt=0, description="... or after this many seconds")
    retention_days: int = Field(
        MIN_RETENTION_DAYS,
        ge=MIN_RETENTION_DAYS,
        description="records stay online at least this long (网络安全法 第二十一条: >= 180 days)",
    )
    archive_dir: Path = Field(Path("var/audit-archive"), description="where archived ranges are written")

    @field_validator("topic")
    @classmethod
    def _topic_is_gone(cls, value: str | None) -> None:
        if value is not None:
            raise ValueError(
                "SHUYUAN_AUDIT_TOPIC is no longer read: the audit topic is `<namespace>.audit`, from "
                "SHUYUAN_KAFKA_NAMESPACE (docs/operations.md, 'Sharing a broker')"
            )
        return None

    def signing_pair(self) -> keys.AuditKeyPair:
        """The audit signing key: SHUYUAN_AUDIT_SIGNING_KEY, else the key of key_dir (created if missing)."""
        if self.signing_key is not None:
            return keys.load_private(self.signing_key.get_secret_value())
        return keys.load_or_create(self.key_dir)

    def pinned(self) -> keys.PinnedKeys:
        """The configured pins (SHUYUAN_AUDIT_PINNED_KEYS); empty when none is configured."""
        return keys.PinnedKeys.parse(self.pinned_keys.split(","))

    def gateway_pins(self) -> keys.PinnedKeys:
        """What the gateway's console trusts: the configured pins, else its own signing key's public half.

        Never created here and never read from the database or an uploaded bundle.
        """
        pinned = self.pinned()
        if pinned:
            return pinned
        if self.signing_key is not None:
            return keys.PinnedKeys.of(self.signing_pair().public)
        own = keys.existing_public(self.key_dir)
        return keys.PinnedKeys.of(own) if own is not None else pinned

    def topic_configs(self) -> dict[str, str]:
        """The audit topic's configs: time-based retention only, never a size that could cut it short."""
        return {"retention.ms": str(self.topic_retention_hours * 3600 * 1000), "retention.bytes": "-1"}

    def uses_kafka(self, transport: str) -> bool:
        """Whether the gateway publishes audit events to Kafka."""
        return self.path == "kafka" or (self.path == "auto" and transport == "kafka")

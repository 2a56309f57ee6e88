"""Settings of the gateway: one typed object, built in the app factory (never at import time)."""

import ssl
from pathlib import Path
from typing import Literal, TypedDict

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from exchange.audit.settings import AuditSettings
from protocol.topics import DEFAULT_NAMESPACE, NAMESPACE_PATTERN, KafkaNames

DEV_PLATFORM_KEY = "development-only-platform-key-change-me"


class UvicornTls(TypedDict, total=False):
    """The TLS keyword arguments of `uvicorn.run`."""

    ssl_certfile: str
    ssl_keyfile: str | None
    ssl_ca_certs: str
    ssl_cert_reqs: int


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
    kafka_namespace: str = Field(
        DEFAULT_NAMESPACE,
        pattern=NAMESPACE_PATTERN,
        description="the deployment's namespace: every topic and consumer group is `<namespace>.…`; "
        "deployments sharing a broker need different ones (docs/operations.md, 'Sharing a broker')",
    )
    # TLS on every hop (docs/crypto.md): certificates from `shuyuan pki`; plain text is for the embedded mode.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL"] = Field(
        "PLAINTEXT", description="SSL: TLS to the broker with this gateway's client certificate"
    )
    kafka_ssl_cafile: str | None = Field(None, description="CA certificate (PEM) the broker's must chain to")
    kafka_ssl_certfile: str | None = Field(None, description="this gateway's client certificate (PEM)")
    kafka_ssl_keyfile: str | None = Field(None, description="the client certificate's private key (PEM)")
    tls_certfile: str | None = Field(None, description="HTTPS: the gateway's server certificate (PEM)")
    tls_keyfile: str | None = Field(None, description="HTTPS: the server certificate's private key (PEM)")
    tls_client_ca: str | None = Field(
        None, description="HTTPS: also require client certificates signed by this CA (mutual TLS)"
    )
    gateway_id: str = Field("gw-0", description="name of this gateway instance, written to the audit log")
    reply_partition: int = Field(
        0, ge=0, description="this instance's partition of `<ns>.rep`; unique per instance"
    )
    reply_partitions: int = Field(12, ge=1, description="partitions of `<ns>.rep` (upper bound of instances)")
    request_partitions: int = Field(3, ge=1, description="partitions of each `<ns>.req.<dept>` topic")
    source_timeout_s: float = Field(3.0, gt=0, le=60, description="how long to wait for a source's reply")
    catalogue_refresh_s: float = Field(5.0, gt=0, description="registry cache refresh period, seconds")
    key_cache_s: float = Field(
        1.0, gt=0, le=60, description="department keys are re-read at least this often (revocation delay)"
    )
    # Separate keys for separate jobs (docs/crypto.md); each unset one falls back to the platform key,
    # a development convenience refused in production.
    platform_key: SecretStr = Field(
        SecretStr(DEV_PLATFORM_KEY),
        description="development only: the secret each unset key below comes from; refused in production",
    )
    token_signing_key: SecretStr | None = Field(
        None,
        description="access-token signing (Ed25519), comma-separated: each a PKCS#8 PEM or private JWK file, "
        "or a secret of >= 32 characters; the first signs, every one verifies (rotation)",
    )
    request_signing_key: SecretStr | None = Field(
        None,
        description="signs every request to a source (Ed25519), comma-separated like the token key; "
        "sources pin its public JWKS (`shuyuan keys gateway-jwks`)",
    )
    blind_index_key: SecretStr | None = Field(
        None,
        description="HMAC key of subject blind indexes (>= 32 characters); rotating it means re-indexing",
    )
    sealing_key: SecretStr | None = Field(
        None,
        description="at-rest sealing of stored answers (AES-256-GCM), comma-separated secrets of >= 32 "
        "characters; the first seals, every one unseals (by kid)",
    )
    audit_batch_max: int = Field(
        500, ge=1, description="audit rows written per database transaction, at most"
    )
    audit: AuditSettings = Field(
        default_factory=AuditSettings, description="the audit log (SHUYUAN_AUDIT_* variables)"
    )
    max_elements_per_query: int = Field(50, ge=1, le=500)
    bulk_max_subjects: int = Field(500, ge=1, le=1000, description="subjects per bulk query at most")
    bulk_concurrency: int = Field(
        16, ge=1, le=256, description="queries of one bulk in flight at once (each is one query per source)"
    )
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="larger request bodies are refused with 413")
    # A catalogue import is a whole catalogue (up to 20 000 rows, registry/catalogue_io), and the
    # console's confirmation sends it back form-encoded (a Chinese character takes 9 bytes there).
    max_import_bytes: int = Field(
        8 * 1024 * 1024,
        ge=1024,
        description="larger catalogue imports (steward only: /v1/catalogue/import*, the console's "
        "import) are refused with 413",
    )
    # Client authentication and abuse resistance (docs/security.md).
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#]+$",
        description="the gateway's external base URL, e.g. https://exchange.example: the token issuer "
        "and the audience of client assertions; unset: taken from each request (development only)",
    )
    token_audience: str = Field("urn:shuyuan:exchange", description="`aud` of the access tokens issued")
    token_ttl_s: int = Field(300, ge=30, le=3600, description="access token lifetime, seconds")
    rate_limit_per_s: float = Field(200.0, gt=0, description="average requests per second per client system")
    rate_limit_burst: int = Field(400, ge=1, description="requests a client system may send in one burst")
    query_record_ttl_s: int = Field(
        24 * 3600,
        ge=60,
        description="a stored answer is replayed for its query_id this long, then purged; a later query with "
        "the same id is answered afresh (docs/security.md)",
    )
    # Asynchronous queries (docs/api.md, "Asynchronous queries").
    async_result_ttl_s: int = Field(
        24 * 3600,
        ge=1,
        description="an async query's stored (encrypted) result may be fetched this long, then it is deleted",
    )
    async_retry_after_s: int = Field(1, ge=1, le=60, description="`Retry-After` of a pending async query")
    async_sweep_s: float = Field(
        60.0, gt=0, description="how often expired async results are dropped and lost runs failed"
    )
    async_run_max_s: int = Field(
        25 * 3600,
        ge=60,
        description="an async query still pending this long was lost with its gateway (longer than any "
        "source's answer deadline, at most 24 h): its poll says `failed`, `query_interrupted`",
    )
    callback_attempts: int = Field(3, ge=1, le=10, description="attempts to deliver one callback")
    callback_backoff_s: float = Field(
        1.0, ge=0, le=60, description="wait before the 2nd callback attempt, doubled for each later one"
    )
    callback_timeout_s: float = Field(5.0, gt=0, le=30, description="timeout of one callback attempt")
    request_max_skew_s: int = Field(
        300, ge=10, le=3600, description="a query's `requested_at` must be this close to the gateway's clock"
    )

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> "GatewaySettings":
        if self.environment == "production":
            check_production_keys(self)
        if self.environment == "production" and self.public_url is None:
            # Unset, the issuer comes from the Host header, which a caller controls.
            raise ValueError("SHUYUAN_PUBLIC_URL must be set in production")
        if self.kafka_security_protocol == "SSL" and not self.kafka_ssl_cafile:
            raise ValueError("SHUYUAN_KAFKA_SSL_CAFILE is required with SHUYUAN_KAFKA_SECURITY_PROTOCOL=SSL")
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("SHUYUAN_TLS_CERTFILE and SHUYUAN_TLS_KEYFILE go together")
        if self.environment == "production" and (
            self.tls_certfile is None or (self.transport == "kafka" and self.kafka_security_protocol != "SSL")
        ):
            raise ValueError("production needs HTTPS (SHUYUAN_TLS_*) and Kafka over SSL")
        return self

    def token_signing_entries(self) -> list[str]:
        """Token keys (files or secrets), the signing one first; development: the platform key."""
        return _entries(self.token_signing_key) or [self.platform_key.get_secret_value()]

    def request_signing_entries(self) -> list[str]:
        """Request keys (files or secrets), the signing one first; development: the platform key."""
        return _entries(self.request_signing_key) or [self.platform_key.get_secret_value()]

    def blind_index_secret(self) -> bytes:
        """The blind-index secret; development: the platform key."""
        return (self.blind_index_key or self.platform_key).get_secret_value().encode()

    def sealing_secrets(self) -> list[bytes]:
        """Sealing secrets, the current one first; development: the platform key."""
        return [e.encode() for e in _entries(self.sealing_key) or [self.platform_key.get_secret_value()]]

    def uvicorn_ssl_options(self) -> UvicornTls:
        """uvicorn's TLS arguments: HTTPS when a certificate is set, client certificates when a CA is."""
        if self.tls_certfile is None:
            return {}
        options: UvicornTls = {"ssl_certfile": self.tls_certfile, "ssl_keyfile": self.tls_keyfile}
        if self.tls_client_ca:
            options |= {"ssl_ca_certs": self.tls_client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
        return options

    def kafka_names(self) -> KafkaNames:
        """Every topic and consumer-group name of this deployment (SHUYUAN_KAFKA_NAMESPACE)."""
        return KafkaNames(self.kafka_namespace)

    def kafka_client_config(self) -> dict[str, object]:
        """The connection settings every kafka-python client of this gateway shares."""
        config: dict[str, object] = {
            "bootstrap_servers": self.kafka_bootstrap.split(","),
            "client_id": f"shuyuan-{self.gateway_id}",
        }
        if self.kafka_security_protocol == "SSL":
            config |= {
                "security_protocol": "SSL",
                "ssl_cafile": self.kafka_ssl_cafile,
                "ssl_certfile": self.kafka_ssl_certfile,
                "ssl_keyfile": self.kafka_ssl_keyfile,
                "ssl_check_hostname": True,
            }
        return config

    def audit_kafka_config(self) -> dict[str, object]:
        """The Kafka connection of the audit path: the gateway's, on the audit's own servers when set."""
        config = self.kafka_client_config()
        if self.audit.kafka_bootstrap:
            config["bootstrap_servers"] = self.audit.kafka_bootstrap.split(",")
        return config


def _entries(value: SecretStr | None) -> list[str]:
    return [e.strip() for e in value.get_secret_value().split(",") if e.strip()] if value else []


_KEY_FILES_ALLOWED = ("SHUYUAN_TOKEN_SIGNING_KEY", "SHUYUAN_REQUEST_SIGNING_KEY")
_PLACEHOLDERS = ("change-me", "changeme", "placeholder", "development", "example", "secret")


def check_production_keys(settings: GatewaySettings) -> None:
    """Production: every job has its own configured key, none a placeholder, none shared (docs/crypto.md)."""
    if settings.platform_key.get_secret_value() != DEV_PLATFORM_KEY:
        raise ValueError(
            "SHUYUAN_PLATFORM_KEY is a development convenience, refused in production: set SHUYUAN_"
            "TOKEN_SIGNING_KEY, SHUYUAN_REQUEST_SIGNING_KEY, SHUYUAN_BLIND_INDEX_KEY, SHUYUAN_SEALING_KEY "
            "and SHUYUAN_AUDIT_SIGNING_KEY"
        )
    seen: dict[str, str] = {}
    jobs = {
        "SHUYUAN_TOKEN_SIGNING_KEY": settings.token_signing_key,
        "SHUYUAN_REQUEST_SIGNING_KEY": settings.request_signing_key,
        "SHUYUAN_BLIND_INDEX_KEY": settings.blind_index_key,
        "SHUYUAN_SEALING_KEY": settings.sealing_key,
    }
    for name, value in jobs.items():
        if value is None:
            raise ValueError(f"{name} must be set in production")
        for position, entry in enumerate(_entries(value)):
            if name in _KEY_FILES_ALLOWED and Path(entry).is_file():
                continue
            if len(entry) < 32 or any(p in entry.lower() for p in _PLACEHOLDERS):
                raise ValueError(f"{name}: a secret of at least 32 random characters, not a placeholder")
            # The current keys must differ; a retired one kept to unseal or verify may be an old secret.
            if position == 0 and seen.setdefault(entry, name) != name:
                raise ValueError(f"{name} and {seen[entry]} share a secret: each job needs its own key")
    if not settings.audit.uses_kafka(settings.transport) and settings.audit.signing_key is None:
        raise ValueError(
            "SHUYUAN_AUDIT_SIGNING_KEY must be set in production (this gateway signs checkpoints)"
        )

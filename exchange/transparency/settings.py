"""Settings of citizen transparency (prefix `SHUYUAN_TRANSPARENCY_`), built in the app factory."""

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Asymmetric algorithms only: `none` and the HS* family (a shared secret) are never accepted.
# "EdDSA" is the older name of Ed25519 signatures (RFC 9864 deprecates it); both are accepted.
ALLOWED_ALGS = ("RS256", "ES256", "EdDSA", "Ed25519")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def secure_url(url: str) -> bool:
    """An https URL, or plain http to this machine's loopback interface (never leaves the host)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)


class TransparencySettings(BaseSettings):
    """Who may sign citizens' ID tokens, and how long a department may hide an access."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_TRANSPARENCY_", extra="ignore")

    oidc_issuer: str | None = Field(
        None, description="`iss` of the ID tokens (the OpenID Connect provider); unset: citizen view off"
    )
    oidc_audience: str | None = Field(None, description="`aud` of the ID tokens: our client id there")
    jwks_url: str | None = Field(None, description="the provider's JWKS URL (fetched, cached jwks_ttl_s)")
    jwks_file: Path | None = Field(None, description="a local JWKS file instead (tests, offline sites)")
    # Neither set: the `jwks_uri` of {issuer}/.well-known/openid-configuration (OpenID Connect Discovery).
    jwks_ttl_s: float = Field(300.0, gt=0, le=86400, description="how long a fetched JWKS is trusted")
    jwks_timeout_s: float = Field(5.0, gt=0, le=60, description="timeout of one JWKS fetch")
    person_claim: str = Field("id_number", min_length=1, description="claim holding a resident ID number")
    enterprise_claim: str = Field("uscc", min_length=1, description="claim holding an enterprise USCC")
    leeway_s: int = Field(60, ge=0, le=300, description="clock skew allowed on exp, iat and nbf")
    max_embargo_days: int = Field(
        3 * 365, ge=1, description="a restriction may hide an access for at most this many days"
    )
    approval_after_days: int = Field(
        30,
        ge=1,
        description="a restriction hides an access this many days on the department's word alone; "
        "longer only once a data steward or the platform security officer approves it",
    )

    @model_validator(mode="after")
    def _complete(self) -> "TransparencySettings":
        if self.oidc_issuer is not None:
            if not self.oidc_audience:
                raise ValueError("SHUYUAN_TRANSPARENCY_OIDC_AUDIENCE is required with an issuer")
            if self.jwks_url is not None and self.jwks_file is not None:
                raise ValueError("set at most one of SHUYUAN_TRANSPARENCY_JWKS_URL and _JWKS_FILE")
            # Whoever can swap the key set can sign in as anyone: fetched over TLS only (or over the
            # loopback interface, where the development provider of `make run` lives: shuyuan/dev_idp.py).
            if self.jwks_url is not None and not secure_url(self.jwks_url):
                raise ValueError("SHUYUAN_TRANSPARENCY_JWKS_URL must be an https:// URL")
            if self.jwks_url is None and self.jwks_file is None and not secure_url(self.oidc_issuer):
                raise ValueError("discovery needs an https:// SHUYUAN_TRANSPARENCY_OIDC_ISSUER")
        return self

    @property
    def discovers_jwks(self) -> bool:
        """Whether the JWKS location comes from the provider's discovery document."""
        return self.jwks_url is None and self.jwks_file is None

    @property
    def enabled(self) -> bool:
        """Whether citizens can sign in (an issuer is configured)."""
        return self.oidc_issuer is not None

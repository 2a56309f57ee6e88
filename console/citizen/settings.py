"""Settings of the citizen page (prefix `SHUYUAN_CITIZEN_`), built in the app factory."""

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SESSION_SECRET = "development-only-citizen-session-secret-change-me"  # noqa: S105 (refused in production)


class CitizenSettings(BaseSettings):
    """The page's client registration at the provider, and its sessions."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_CITIZEN_", extra="ignore", populate_by_name=True)

    environment: Literal["development", "test", "production"] = Field(
        "development",
        validation_alias=AliasChoices("environment", "SHUYUAN_ENVIRONMENT"),
        description="production refuses the development session secret",
    )
    session_secret: SecretStr = Field(
        SecretStr(DEV_SESSION_SECRET),
        description="key the session cookie is encrypted and authenticated with (A256GCM, via HKDF)",
    )
    client_id: str | None = Field(
        None, description="the page's client id at the provider; unset: SHUYUAN_TRANSPARENCY_OIDC_AUDIENCE"
    )
    client_secret: SecretStr | None = Field(
        None, description="a confidential client's secret (client_secret_basic); unset: public client, PKCE"
    )
    idle_timeout_s: int = Field(15 * 60, ge=10, description="a session unused this long ends")
    absolute_timeout_s: int = Field(2 * 3600, ge=60, description="a session ends this long after sign-in")
    flow_timeout_s: int = Field(600, ge=30, description="a sign-in must come back from the provider within")
    cookie_secure: bool = Field(
        False, description="always mark the cookie Secure (HTTPS requests are anyway)"
    )
    page_size: int = Field(20, ge=1, le=100, description="accesses per page")

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> "CitizenSettings":
        secret = self.session_secret.get_secret_value()
        if self.environment == "production" and secret == DEV_SESSION_SECRET:
            raise ValueError("SHUYUAN_CITIZEN_SESSION_SECRET must be set in production")
        if len(secret) < 32:
            raise ValueError("SHUYUAN_CITIZEN_SESSION_SECRET must be at least 32 characters")
        return self

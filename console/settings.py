"""Settings of the stewards' admin console (prefix `SHUYUAN_CONSOLE_`), built in the app factory."""

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SESSION_SECRET = "development-only-console-session-secret-change-me"  # noqa: S105 (refused in production)


class ConsoleSettings(BaseSettings):
    """Sessions, sign-in throttling and demo accounts of the console."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_CONSOLE_", extra="ignore", populate_by_name=True)

    environment: Literal["development", "test", "production"] = Field(
        "development",
        validation_alias=AliasChoices("environment", "SHUYUAN_ENVIRONMENT"),
        description="production refuses the development session secret and the demo passwords",
    )
    session_secret: SecretStr = Field(
        SecretStr(DEV_SESSION_SECRET), description="key that signs the session cookie (HMAC)"
    )
    idle_timeout_s: int = Field(30 * 60, ge=10, description="a session unused this long ends")
    absolute_timeout_s: int = Field(8 * 3600, ge=60, description="a session ends this long after sign-in")
    cookie_secure: bool = Field(
        False, description="always mark the cookie Secure (it is marked so anyway on HTTPS requests)"
    )
    max_failed_logins: int = Field(5, ge=1, description="consecutive failures before an account is locked")
    lockout_s: int = Field(300, ge=1, description="first lock period; doubles with every further failure")
    lockout_max_s: int = Field(3600, ge=1, description="longest lock period")
    demo_accounts: bool = Field(
        True, description="create the demo accounts on an empty user table (never in production)"
    )
    page_size: int = Field(20, ge=5, le=200, description="rows per table page")

    @model_validator(mode="after")
    def _no_dev_secret_in_production(self) -> "ConsoleSettings":
        if self.environment == "production" and self.session_secret.get_secret_value() == DEV_SESSION_SECRET:
            raise ValueError("SHUYUAN_CONSOLE_SESSION_SECRET must be set in production")
        if len(self.session_secret.get_secret_value()) < 32:
            raise ValueError("SHUYUAN_CONSOLE_SESSION_SECRET must be at least 32 characters")
        return self

    @property
    def production(self) -> bool:
        """Whether development conveniences are refused."""
        return self.environment == "production"

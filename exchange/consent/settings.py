"""Settings of consent (prefix `SHUYUAN_CONSENT_`)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsentSettings(BaseSettings):
    """How long a request waits for the citizen, and how long an approval holds."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_CONSENT_", extra="ignore")

    request_ttl_s: float = Field(
        7 * 86400.0, gt=0, le=90 * 86400, description="a request not answered this long expires"
    )
    grant_ttl_s: float = Field(
        86400.0,
        gt=0,
        le=365 * 86400,
        description="an approval lets the same department ask the same elements for the same case this long",
    )

"""Settings of the registry's workflows: one typed object, built in the app factory."""

from datetime import date

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RegistrySettings(BaseSettings):
    """What the registry reads from the environment (prefix `SHUYUAN_REGISTRY_`)."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_REGISTRY_", extra="ignore")

    decision_working_days: int = Field(
        10, ge=1, le=60, description="working days a source department has to decide an agreement request"
    )
    holidays: list[date] = Field(
        default_factory=list,
        description="statutory holidays skipped when counting working days (JSON list of dates)",
    )
    expiry_check_s: float = Field(60.0, gt=0, description="how often approved agreements are expired")

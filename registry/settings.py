"""Settings of the registry's workflows: one typed object, built in the app factory."""

from datetime import date
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry.agreements.deadlines import WorkingCalendar


class RegistrySettings(BaseSettings):
    """What the registry reads from the environment (prefix `SHUYUAN_REGISTRY_`)."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_REGISTRY_", extra="ignore")

    # The deployment's environment, shared with the gateway (SHUYUAN_ENVIRONMENT): plain-HTTP loopback
    # callback URLs are accepted only in development and test (registry/systems/callbacks.py).
    environment: Literal["development", "test", "production"] = Field(
        "development", validation_alias=AliasChoices("SHUYUAN_ENVIRONMENT")
    )
    decision_working_days: int = Field(
        10, ge=1, le=60, description="working days a source department has to decide an agreement request"
    )
    holidays: list[date] = Field(
        default_factory=list,
        description="statutory holidays skipped when counting working days (JSON list of dates)",
    )
    # 调休: set each year from the State Council's holiday notice, like `holidays` (deadlines.py).
    makeup_workdays: list[date] = Field(
        default_factory=list,
        description="weekend dates that are working days (调休), counted as working days (JSON list)",
    )
    expiry_check_s: float = Field(60.0, gt=0, description="how often approved agreements are expired")

    def calendar(self) -> WorkingCalendar:
        """The working-day calendar of every deadline (agreements and corrections)."""
        return WorkingCalendar(frozenset(self.holidays), frozenset(self.makeup_workdays))

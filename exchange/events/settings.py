"""Settings of events: the redelivery backoff and how often unacknowledged deliveries are checked."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EventsSettings(BaseSettings):
    """What events read from the environment (prefix `SHUYUAN_EVENTS_`)."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_EVENTS_", extra="ignore")

    backoff_s: float = Field(
        2.0, gt=0, le=3600, description="first redelivery after this long, then twice as long each time"
    )
    max_attempts: int = Field(
        5, ge=1, le=50, description="copies sent (the first included) before a delivery is overdue"
    )
    check_s: float = Field(0.5, gt=0, le=60, description="how often due redeliveries are looked for")

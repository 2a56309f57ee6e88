"""Settings of corrections: deadlines in working days, per source department, and the periodic check."""

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Deadlines(BaseModel):
    """Working days a source department has to take a correction up (accepted) and to close it."""

    take_up: int = Field(5, ge=1, le=60)
    close: int = Field(15, ge=1, le=120)


class CorrectionsSettings(BaseSettings):
    """What corrections read from the environment (prefix `SHUYUAN_CORRECTIONS_`)."""

    model_config = SettingsConfigDict(env_prefix="SHUYUAN_CORRECTIONS_", extra="ignore")

    take_up_working_days: int = Field(
        5, ge=1, le=60, description="working days a source has to accept a correction (default)"
    )
    close_working_days: int = Field(
        15, ge=1, le=120, description="working days a source has to close a correction (default)"
    )
    department_deadlines: dict[str, Deadlines] = Field(
        default_factory=dict,
        description='per source department, JSON: {"bdc": {"take_up": 3, "close": 10}}',
    )
    check_s: float = Field(60.0, gt=0, description="how often overdue corrections are escalated")
    recall_window_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="a fix is recalled to every department that received the old value this many days "
        "before it (found on the audit chain, which must be kept at least as long)",
    )
    recall_check_s: float = Field(
        30.0, gt=0, le=3600, description="how often fixed corrections without their recall are looked for"
    )
    dispute_refresh_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="the open corrections behind the dispute flag are re-read at least this often "
        "(a change made through this gateway is seen at once)",
    )

    def deadlines_for(self, source: str) -> Deadlines:
        """The deadlines of one source department: its own, or the defaults."""
        own = self.department_deadlines.get(source)
        return own or Deadlines(take_up=self.take_up_working_days, close=self.close_working_days)

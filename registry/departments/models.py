"""Departments: the government bodies that consume data and are the source of it."""

from datetime import datetime
from typing import Literal

from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

DepartmentStatus = Literal["active", "disabled"]
DEPT_CODE_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
MAX_ANSWER_DEADLINE_S = 24 * 3600.0  # a source slower than a day is an offline process, not a query


class DepartmentBase(SQLModel):
    """Fields a caller provides."""

    code: str = Field(
        max_length=32,
        schema_extra={"pattern": DEPT_CODE_PATTERN},
        description="Stable lowercase code, e.g. `psb`",
    )
    name: str = Field(min_length=1, max_length=200, description="Chinese name, e.g. 公安局")
    name_en: str = Field(default="", max_length=200)


class Department(DepartmentBase, table=True):
    """A department as stored."""

    __tablename__ = "department"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    status: str = Field(default="active", max_length=16)
    # How long the gateway waits for this source's answer; None: the gateway's sync source timeout.
    # Longer than that, a synchronous query asking it is answered `202` asynchronously (docs/api.md).
    answer_deadline_s: float | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class DepartmentCreate(DepartmentBase):
    """Body of POST /v1/departments."""

    # A plain dict: SQLModel types model_config as its own SQLModelConfig, which ConfigDict is not.
    model_config = {"extra": "forbid"}


class DepartmentUpdate(SQLModel):
    """Body of PATCH /v1/departments/{code} (a data steward only)."""

    model_config = {"extra": "forbid"}
    answer_deadline_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_ANSWER_DEADLINE_S,
        description="seconds the gateway waits for this source's answer; null: the gateway's sync "
        "source timeout. Longer than that, queries asking this source are answered asynchronously",
    )


class DepartmentRead(DepartmentBase):
    """A department as returned by the API."""

    status: DepartmentStatus
    answer_deadline_s: float | None = None
    created_at: datetime

"""Departments: the government bodies that consume data and are the source of it."""

from datetime import datetime
from typing import Literal

from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

DepartmentStatus = Literal["active", "disabled"]
DEPT_CODE_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"


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
    created_at: datetime = Field(default_factory=utcnow)


class DepartmentCreate(DepartmentBase):
    """Body of POST /v1/departments."""

    # A plain dict: SQLModel types model_config as its own SQLModelConfig, which ConfigDict is not.
    model_config = {"extra": "forbid"}


class DepartmentRead(DepartmentBase):
    """A department as returned by the API."""

    status: DepartmentStatus
    created_at: datetime

"""Aliases / crosswalk: a department's or region's local code and name for a canonical element."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

ScopeType = Literal["department", "region"]


class ElementAlias(SQLModel, table=True):
    """(scope, local code) -> exactly one element: a local code can never point to two elements."""

    __tablename__ = "element_alias"
    __table_args__ = (UniqueConstraint("scope_type", "scope", "local_code", name="uq_alias_scope_code"),)
    id: int | None = Field(default=None, primary_key=True)
    element_id: int = Field(foreign_key="data_element.id", nullable=False, index=True)
    scope_type: str = Field(max_length=16)
    scope: str = Field(max_length=32, index=True)
    local_code: str = Field(max_length=80)
    local_name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class AliasCreate(BaseModel):
    """Body of POST /v1/elements/{code}/aliases."""

    model_config = ConfigDict(extra="forbid")
    scope_type: ScopeType = Field(description="`department` (a department code) or `region` (e.g. 330100)")
    scope: str = Field(min_length=1, max_length=32, schema_extra={"pattern": r"^[A-Za-z0-9_]+$"})
    local_code: str = Field(min_length=1, max_length=80)
    local_name: str = Field(min_length=1, max_length=200)


class AliasRead(AliasCreate):
    """An alias as returned by the API."""

    model_config = ConfigDict(extra="ignore")
    id: int
    element: str
    created_at: datetime

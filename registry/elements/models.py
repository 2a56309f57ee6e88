"""Data elements (数据元), each with exactly one source department (一数一源)."""

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict
from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from protocol.envelope import utcnow

SharingType = Literal["unconditional", "conditional", "not_shared"]
Sensitivity = Literal["public", "internal", "sensitive_personal", "restricted"]
DataGrade = Literal["general", "important", "core"]
RegistrationStatus = Literal["candidate", "recorded", "qualified", "standard", "superseded", "retired"]
ValueType = Literal["string", "number", "integer", "boolean", "date", "json"]
SubjectTypeField = Literal["person", "enterprise"]

ELEMENT_CODE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
INACTIVE_STATUSES = frozenset({"superseded", "retired"})


class ElementBase(SQLModel):
    """Fields a caller provides."""

    code: str = Field(
        max_length=80,
        schema_extra={"pattern": ELEMENT_CODE_PATTERN},
        description="Stable code, e.g. `person.name`",
    )
    name_zh: str = Field(min_length=1, max_length=200, description="Chinese name, e.g. 姓名")
    name_en: str = Field(min_length=1, max_length=200)
    definition: str = Field(default="", max_length=2000)
    subject_type: SubjectTypeField
    value_type: ValueType = "string"
    sensitivity: Sensitivity = "internal"
    grade: DataGrade = "general"
    sharing_type: SharingType = "unconditional"
    status: RegistrationStatus = "recorded"


class DataElement(ElementBase, table=True):
    """A data element as stored; `source_department_id` is its single authoritative source."""

    __tablename__ = "data_element"
    __table_args__ = (
        CheckConstraint(
            "sharing_type IN ('unconditional','conditional','not_shared')", name="ck_element_sharing_type"
        ),
        CheckConstraint("subject_type IN ('person','enterprise')", name="ck_element_subject_type"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # One row per code and a NOT NULL source column: the database itself refuses a second source.
    code: str = Field(max_length=80, unique=True, index=True)
    subject_type: str = Field(max_length=16)
    value_type: str = Field(default="string", max_length=16)
    sensitivity: str = Field(default="internal", max_length=32)
    grade: str = Field(default="general", max_length=16)
    sharing_type: str = Field(default="unconditional", max_length=16)
    status: str = Field(default="recorded", max_length=16)
    source_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ElementCreate(ElementBase):
    """Body of POST /v1/elements."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    source: str = Field(description="Code of the single source department")


class ElementRead(ElementBase):
    """A data element as returned by the API."""

    source: str
    version: int
    created_at: datetime
    updated_at: datetime

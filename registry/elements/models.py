"""Data elements (数据元), each with exactly one source department (一数一源), and their history."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import JSON, CheckConstraint, Column
from sqlmodel import AutoString, Field, SQLModel

from protocol.clock import utcnow

SharingType = Literal["unconditional", "conditional", "not_shared"]
Sensitivity = Literal["public", "internal", "sensitive_personal", "restricted"]
DataGrade = Literal["general", "important", "core"]
RegistrationStatus = Literal["candidate", "recorded", "qualified", "standard", "superseded", "retired"]
ValueType = Literal["string", "number", "integer", "boolean", "date", "json"]
SubjectTypeField = Literal["person", "enterprise"]
UpdateFrequency = Literal[
    "realtime", "daily", "weekly", "monthly", "quarterly", "yearly", "on_change", "irregular"
]

ELEMENT_CODE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"
INACTIVE_STATUSES = frozenset({"superseded", "retired"})

# Chinese labels for the console and exports; the API speaks the English codes.
GRADE_LABELS = {"general": "一般", "important": "重要", "core": "核心"}
SHARING_LABELS = {"unconditional": "无条件共享", "conditional": "有条件共享", "not_shared": "不予共享"}
SENSITIVITY_LABELS = {
    "public": "公开",
    "internal": "内部",
    "sensitive_personal": "敏感个人信息",
    "restricted": "受限",
}
STATUS_LABELS = {
    "candidate": "候选",
    "recorded": "已登记",
    "qualified": "已审核",
    "standard": "标准",
    "superseded": "已替代",
    "retired": "已退役",
}


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
    value_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the value; connectors and consumers validate against it"
    )
    sensitivity: Sensitivity = "internal"
    grade: DataGrade = Field(
        default="general", description="data grade: general 一般, important 重要, core 核心"
    )
    # 数据安全法 第二十一条 and GB/T 43697-2024 ask that a grade be decided, not defaulted: the reason
    # is kept beside it so a steward (and an auditor) can see why an element is 一般, 重要 or 核心.
    grade_basis: str = Field(
        default="",
        max_length=500,
        description="定级依据: why the element has its grade (the rule or assessment it follows)",
    )
    sharing_type: SharingType = "unconditional"
    sharing_conditions: str = Field(
        default="", max_length=2000, description="conditions of conditional sharing"
    )
    update_frequency: UpdateFrequency = "on_change"
    status: RegistrationStatus = "recorded"
    # 个人信息保护法 第二十九条: sensitive personal information is processed only with the person's
    # separate consent (单独同意) where no law provides otherwise; such an element waits for it.
    consent_required: bool = Field(
        default=False,
        description="released only with the subject's consent to this consumer, service item and case "
        "(the query answers `pending_consent` until the citizen approves on the citizen page)",
    )


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
    # The Literal fields of ElementBase, stored as plain strings (the same columns as `str` with max_length).
    subject_type: SubjectTypeField = Field(sa_type=AutoString(length=16))
    value_type: ValueType = Field(default="string", sa_type=AutoString(length=16))
    value_schema: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    sensitivity: Sensitivity = Field(default="internal", sa_type=AutoString(length=32))
    grade: DataGrade = Field(default="general", sa_type=AutoString(length=16))
    sharing_type: SharingType = Field(default="unconditional", sa_type=AutoString(length=16))
    update_frequency: UpdateFrequency = Field(default="on_change", sa_type=AutoString(length=16))
    status: RegistrationStatus = Field(default="recorded", sa_type=AutoString(length=16))
    source_department_id: int = Field(foreign_key="department.id", nullable=False, index=True)
    superseded_by_id: int | None = Field(default=None, foreign_key="data_element.id", nullable=True)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ElementHistory(SQLModel, table=True):
    """One change of an element: who, when, what (field -> [old, new]) and why."""

    __tablename__ = "element_history"
    id: int | None = Field(default=None, primary_key=True)
    element_id: int = Field(foreign_key="data_element.id", nullable=False, index=True)
    version: int
    action: str = Field(max_length=32)
    actor: str = Field(max_length=160)
    at: datetime = Field(default_factory=utcnow)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str = Field(default="", max_length=2000)


class ElementCreate(ElementBase):
    """Body of POST /v1/elements."""

    # A plain dict: SQLModel types model_config as its own SQLModelConfig, which ConfigDict is not.
    model_config = {"extra": "forbid"}
    source: str = Field(description="Code of the single source department")
    reason: str = Field(default="", max_length=2000, description="why it is registered (written to history)")


class ElementUpdate(BaseModel):
    """Body of PATCH /v1/elements/{code}: the attributes to change, and why."""

    model_config = ConfigDict(extra="forbid")
    name_zh: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, min_length=1, max_length=200)
    definition: str | None = Field(default=None, max_length=2000)
    value_type: ValueType | None = None
    value_schema: dict[str, Any] | None = None
    sensitivity: Sensitivity | None = None
    grade: DataGrade | None = None
    grade_basis: str | None = Field(default=None, max_length=500)
    sharing_type: SharingType | None = None
    sharing_conditions: str | None = Field(default=None, max_length=2000)
    update_frequency: UpdateFrequency | None = None
    consent_required: bool | None = None
    reason: str = Field(default="", max_length=2000)


class StatusChange(BaseModel):
    """Body of POST /v1/elements/{code}/status."""

    model_config = ConfigDict(extra="forbid")
    status: RegistrationStatus
    reason: str = Field(default="", max_length=2000)
    superseded_by: str | None = Field(default=None, max_length=80, description="the replacing element's code")
    confirm: str | None = Field(
        default=None,
        max_length=64,
        description="the `token` of GET /v1/elements/{code}/impact (superseding/retiring)",
    )


class ElementRead(ElementBase):
    """A data element as returned by the API."""

    source: str
    superseded_by: str | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class HistoryRead(BaseModel):
    """One history entry as returned by the API."""

    version: int
    action: str
    actor: str
    at: datetime
    changes: dict[str, Any]
    reason: str

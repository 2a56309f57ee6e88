"""Service items (政务服务事项) and the materials that data elements replace (减材料)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow
from protocol.identifiers import SubjectType

ITEM_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"
# A subject role (`applicant`, `mother`, `newborn` ...) and a step code of a bundle (一件事).
ROLE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
STEP_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"
# The role of an item that names none: the applicant, of the item's natural subject type.
DEFAULT_ROLE = "applicant"
DEFAULT_ROLE_NAME = "申请人"


class ServiceItem(SQLModel, table=True):
    """A government service a department handles."""

    __tablename__ = "service_item"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    handling_department_id: int = Field(foreign_key="department.id", nullable=False)
    created_at: datetime = Field(default_factory=utcnow)


class Material(SQLModel, table=True):
    """A material an applicant used to bring for a service item."""

    __tablename__ = "material"
    __table_args__ = (UniqueConstraint("service_item_id", "name", name="uq_material_item_name"),)
    id: int | None = Field(default=None, primary_key=True)
    service_item_id: int = Field(foreign_key="service_item.id", nullable=False, index=True)
    name: str = Field(max_length=200)
    position: int = Field(default=0)
    # Whose material it is (a role of the item); None (items older than roles): the item's first role.
    subject_role: str | None = Field(default=None, max_length=32)


class MaterialElement(SQLModel, table=True):
    """A data element that replaces (part of) a material."""

    __tablename__ = "material_element"
    material_id: int = Field(foreign_key="material.id", primary_key=True)
    element_id: int = Field(foreign_key="data_element.id", primary_key=True)


class ServiceItemParticipant(SQLModel, table=True):
    """A department that takes part in a service item besides its handler (e.g. a step of a 一件事)."""

    __tablename__ = "service_item_participant"
    # The pair is the key: a department takes part in an item once.
    service_item_id: int = Field(foreign_key="service_item.id", primary_key=True)
    department_id: int = Field(foreign_key="department.id", primary_key=True)


class ServiceItemSubject(SQLModel, table=True):
    """A subject role of a service item: whose materials they are (e.g. a newborn and its parents)."""

    __tablename__ = "service_item_subject"
    service_item_id: int = Field(foreign_key="service_item.id", primary_key=True)
    role: str = Field(primary_key=True, max_length=32)
    subject_type: str = Field(max_length=16)
    name: str = Field(max_length=100)
    position: int = Field(default=0)


class ServiceItemStep(SQLModel, table=True):
    """A step of a bundle (一件事): one participating department handles it and reads only its materials."""

    __tablename__ = "service_item_step"
    __table_args__ = (UniqueConstraint("service_item_id", "code", name="uq_step_item_code"),)
    id: int | None = Field(default=None, primary_key=True)
    service_item_id: int = Field(foreign_key="service_item.id", nullable=False, index=True)
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    department_id: int = Field(foreign_key="department.id", nullable=False)
    position: int = Field(default=0)


class StepMaterial(SQLModel, table=True):
    """A material of a step; the material is the key, so it belongs to one step at most."""

    __tablename__ = "service_item_step_material"
    material_id: int = Field(foreign_key="material.id", primary_key=True)
    step_id: int = Field(foreign_key="service_item_step.id", nullable=False, index=True)


class MaterialIn(BaseModel):
    """A material, whose it is, and the codes of the elements that replace it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    elements: list[str] = Field(default_factory=list, max_length=100)
    subject_role: str | None = Field(
        None,
        max_length=32,
        description="The subject role the material is about (one of the item's `subjects`); "
        "default: the first role",
    )


class SubjectRoleIn(BaseModel):
    """A subject role of a service item: the applicant, or e.g. `mother`, `father`, `newborn`."""

    model_config = ConfigDict(extra="forbid")
    role: str = Field(max_length=32, schema_extra={"pattern": ROLE_PATTERN})
    subject_type: SubjectType
    name: str = Field(min_length=1, max_length=100, description="What the role is called, e.g. 母亲")


class StepIn(BaseModel):
    """A step of a bundle: the department that handles it and the materials it needs."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=32, schema_extra={"pattern": STEP_CODE_PATTERN})
    name: str = Field(min_length=1, max_length=200)
    department: str = Field(max_length=32, description="The handling department or one of the participants")
    materials: list[str] = Field(
        default_factory=list, max_length=100, description="Names of the item's materials this step needs"
    )


class ServiceItemCreate(BaseModel):
    """Body of POST /v1/service-items."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=64, schema_extra={"pattern": ITEM_CODE_PATTERN})
    name: str = Field(min_length=1, max_length=200)
    handling_department: str
    participants: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Codes of the other departments that take part (and so may query for it)",
    )
    materials: list[MaterialIn] = Field(default_factory=list, max_length=100)
    subjects: list[SubjectRoleIn] = Field(
        default_factory=list,
        max_length=10,
        description="Whose materials they are; empty: one role `applicant` of the item's natural subject "
        "type (that of its first element)",
    )
    steps: list[StepIn] = Field(
        default_factory=list,
        max_length=20,
        description="A bundle (一件事): each step's department reads only its own step's materials; "
        "the handling department also the materials in no step (intake). Empty: not a bundle",
    )


class ServiceItemRead(BaseModel):
    """A service item as returned by the API."""

    code: str
    name: str
    handling_department: str
    participants: list[str]
    materials: list[MaterialIn]
    subjects: list[SubjectRoleIn]
    steps: list[StepIn]
    created_at: datetime

"""Service items (政务服务事项) and the materials that data elements replace (减材料)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

ITEM_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"


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


class MaterialIn(BaseModel):
    """A material and the codes of the elements that replace it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    elements: list[str] = Field(default_factory=list, max_length=100)


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


class ServiceItemRead(BaseModel):
    """A service item as returned by the API."""

    code: str
    name: str
    handling_department: str
    participants: list[str]
    materials: list[MaterialIn]
    created_at: datetime

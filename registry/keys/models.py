"""Department public keys (DESIGN.md §8): signing and encryption JWKs with kid, validity and revocation."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import JSON, CheckConstraint, Column, UniqueConstraint
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from protocol.clock import utcnow

KeyUseField = Literal["sig", "enc"]
KID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


class DepartmentKey(SQLModel, table=True):
    """One public key of one department; several may be valid at once during a rotation."""

    __tablename__ = "department_key"
    __table_args__ = (
        UniqueConstraint("department_id", "kid", name="uq_department_key_kid"),
        CheckConstraint("use IN ('sig','enc')", name="ck_department_key_use"),
    )
    id: int | None = TableField(default=None, primary_key=True)
    department_id: int = TableField(foreign_key="department.id", nullable=False, index=True)
    kid: str = TableField(max_length=64)
    use: str = TableField(max_length=8)
    # The public JWK only: the registry refuses private parameters before anything is stored.
    jwk: dict[str, Any] = TableField(sa_column=Column(JSON, nullable=False))
    not_before: datetime
    not_after: datetime | None = None
    revoked_at: datetime | None = None
    created_at: datetime = TableField(default_factory=utcnow)


class KeyCreate(BaseModel):
    """Body of POST /v1/departments/{code}/keys: a public JWK of the department's crypto profile."""

    model_config = ConfigDict(extra="forbid")
    use: KeyUseField = Field(
        description="`sig` (answers are signed with it) or `enc` (JWEs are encrypted to it)"
    )
    jwk: dict[str, Any] = Field(
        description="The public JWK; `kid` is required, private parameters are refused"
    )
    not_before: AwareDatetime | None = Field(None, description="Valid from (default: now)")
    not_after: AwareDatetime | None = Field(None, description="Valid until (default: no end)")


class KeyRead(BaseModel):
    """A registered key as returned by the API."""

    department: str
    kid: str
    use: KeyUseField
    jwk: dict[str, Any]
    not_before: datetime
    not_after: datetime | None
    revoked_at: datetime | None
    status: Literal["valid", "pending", "expired", "revoked"]


class Jwks(BaseModel):
    """A JSON Web Key Set (RFC 7517 §5): the currently valid keys only."""

    keys: list[dict[str, Any]]

"""Client systems: the OAuth clients of a department, each with the public keys of private_key_jwt."""

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import UniqueConstraint
from sqlmodel import Field as TableField
from sqlmodel import SQLModel

from protocol.clock import utcnow

SystemStatus = Literal["active", "disabled"]
# The scopes a system may be granted; a token carries a subset (RFC 6749 §3.3).
Scope = Literal[
    "query",
    "events",
    "corrections",
    "registry:read",
    "registry:write",
    "registry:steward",
    "audit:read",
    "audit:read:all",
]
SCOPES: tuple[str, ...] = get_args(Scope)
# Powers over other departments: only a data steward grants them (docs/security.md, registry privilege).
# `audit:read:all` widens `audit:read` from the system's own department to every department's records.
STEWARD_GRANTED_SCOPES = frozenset({"registry:steward", "audit:read", "audit:read:all"})
CLIENT_ID_PATTERN = r"^[a-z][a-z0-9_-]{2,63}$"
MAX_CALLBACK_URLS = 5
KID_PATTERN = r"^[A-Za-z0-9._:-]{1,100}$"
# Client assertions are signed with Ed25519 or P-256 only (no RSA, no HMAC: no shared secrets).
KEY_TYPES = {("OKP", "Ed25519"), ("EC", "P-256")}


class ClientSystem(SQLModel, table=True):
    """A department's system that calls the exchange (an OAuth client)."""

    __tablename__ = "client_system"
    id: int | None = TableField(default=None, primary_key=True)
    client_id: str = TableField(max_length=64, unique=True, index=True)
    department_id: int = TableField(foreign_key="department.id", nullable=False, index=True)
    name: str = TableField(max_length=200)
    status: str = TableField(default="active", max_length=16)
    scopes: str = TableField(default="", max_length=500, description="space-separated granted scopes")
    # Where the gateway may POST the signed "result ready" callback of an asynchronous query: the only
    # URLs it ever calls for this system (the SSRF defence, docs/security.md "Callbacks").
    callback_urls: str = TableField(default="", max_length=4000, description="space-separated URLs")
    created_at: datetime = TableField(default_factory=utcnow)
    updated_at: datetime = TableField(default_factory=utcnow)


class ClientKey(SQLModel, table=True):
    """One public key of a client system; several overlap during a rotation."""

    __tablename__ = "client_key"
    __table_args__ = (UniqueConstraint("system_id", "kid", name="uq_client_key_system_kid"),)
    id: int | None = TableField(default=None, primary_key=True)
    system_id: int = TableField(foreign_key="client_system.id", nullable=False, index=True)
    kid: str = TableField(max_length=100)
    jwk: str = TableField(max_length=2000, description="the public JWK as JSON")
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    created_at: datetime = TableField(default_factory=utcnow)


class PublicJwk(BaseModel):
    """A public signing key as a JWK (RFC 7517): OKP Ed25519 or EC P-256, never a private part."""

    model_config = ConfigDict(extra="forbid")
    kty: Literal["OKP", "EC"]
    crv: Literal["Ed25519", "P-256"]
    x: str = Field(pattern=r"^[A-Za-z0-9_-]{20,100}$")
    y: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{20,100}$")
    kid: str = Field(pattern=KID_PATTERN)
    alg: Literal["EdDSA", "Ed25519", "ES256"] | None = None
    use: Literal["sig"] | None = None

    @model_validator(mode="after")
    def _curve_matches_type(self) -> "PublicJwk":
        if (self.kty, self.crv) not in KEY_TYPES:
            raise ValueError("kty and crv must be OKP/Ed25519 or EC/P-256")
        if (self.kty == "EC") != (self.y is not None):
            raise ValueError("an EC key needs `y`, an OKP key has none")
        return self


class KeyCreate(BaseModel):
    """A public key to register, with its validity window (rotation: add the new key before the old ends)."""

    model_config = ConfigDict(extra="forbid")
    jwk: PublicJwk
    valid_from: AwareDatetime | None = Field(None, description="default: now")
    valid_until: AwareDatetime | None = Field(None, description="default: no end")


class SystemCreate(BaseModel):
    """Body of POST /v1/systems."""

    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(pattern=CLIENT_ID_PATTERN, description="e.g. `zjj-housing`")
    department: str = Field(max_length=32, description="Code of the owning department")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(default_factory=lambda: list[Scope](["query"]), max_length=len(SCOPES))
    keys: list[KeyCreate] = Field(default_factory=list, max_length=10)


class SystemUpdate(BaseModel):
    """Body of PATCH /v1/systems/{client_id}: disable takes effect at the next request."""

    model_config = ConfigDict(extra="forbid")
    status: SystemStatus | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    scopes: list[Scope] | None = Field(None, max_length=len(SCOPES))


class CallbackUrls(BaseModel):
    """Body of PUT /v1/systems/{client_id}/callback-urls: the whole list (empty: no callbacks)."""

    model_config = ConfigDict(extra="forbid")
    callback_urls: list[str] = Field(
        max_length=MAX_CALLBACK_URLS,
        description="https URLs (plain http only to 127.0.0.1 or localhost in development and test)",
    )


class KeyRead(BaseModel):
    """A registered public key and its state."""

    kid: str
    jwk: dict[str, Any]
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None


class SystemRead(BaseModel):
    """A client system as returned by the API."""

    client_id: str
    department: str
    name: str
    status: SystemStatus
    scopes: list[str]
    callback_urls: list[str] = Field(default_factory=list)
    keys: list[KeyRead]
    created_at: datetime

"""Local accounts of the console: stewards, security officers and viewers."""

from datetime import datetime
from typing import Literal

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from protocol.clock import utcnow

Role = Literal["steward", "security_officer", "viewer"]
ROLES: tuple[Role, ...] = ("steward", "security_officer", "viewer")


class ConsoleUser(SQLModel, table=True):
    """A person who signs in to the console; only an Argon2 hash of the password is stored."""

    __tablename__ = "console_user"
    __table_args__ = (
        CheckConstraint("role IN ('steward','security_officer','viewer')", name="ck_console_user_role"),
    )
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(default="", max_length=200)
    role: str = Field(max_length=32)
    password_hash: str = Field(max_length=255)
    active: bool = Field(default=True)
    failed_logins: int = Field(default=0)
    locked_until: datetime | None = Field(default=None)
    last_login_at: datetime | None = Field(default=None)
    # Bumped at sign-out: a session cookie carries the value it was issued under, so a cookie copied
    # before the sign-out is refused afterwards (the cookie itself cannot be recalled). Revision c3_0002.
    session_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)

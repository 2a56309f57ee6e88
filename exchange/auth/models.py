"""Gateway tables of client authentication: client-assertion ids already used (RFC 7523 §3, jti)."""

from datetime import datetime

from sqlmodel import Field, SQLModel


class UsedAssertion(SQLModel, table=True):
    """A client assertion's jti, kept until the assertion expires so it is accepted once, by any instance."""

    __tablename__ = "auth_used_assertion"
    client_id: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, max_length=128)
    expires_at: datetime = Field(index=True)

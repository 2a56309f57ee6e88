"""What authentication reads and writes in the database: clients, their keys, used assertion ids.

Read on every call, not cached: disabling a system or revoking a key takes effect at once on every
gateway instance that shares the database (one indexed lookup per request).
"""

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from exchange.auth.models import UsedAssertion
from registry.departments.models import Department
from registry.systems.models import ClientKey, ClientSystem

PURGE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A client system as authentication sees it; `keys` holds only keys usable now (kid -> JWK)."""

    client_id: str
    department: str
    active: bool
    scopes: frozenset[str]
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # each JWK as parsed JSON


class AuthStore:
    """Database access of the authentication core (synchronous; callers use a worker thread)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._last_purge = 0.0

    def client(self, client_id: str, *, now: datetime) -> ClientRecord | None:
        """The client with its usable keys, or None when unknown."""
        stmt = (
            select(
                col(ClientSystem.id),
                col(ClientSystem.status),
                col(ClientSystem.scopes),
                col(Department.code),
                col(Department.status),
            )
            .join(Department, col(Department.id) == ClientSystem.department_id)
            .where(col(ClientSystem.client_id) == client_id)
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                return None
            system_id, status, scopes, dept, dept_status = row
            keys = conn.execute(
                select(col(ClientKey.kid), col(ClientKey.jwk)).where(
                    col(ClientKey.system_id) == system_id, *_usable(now)
                )
            ).all()
        return ClientRecord(
            client_id=client_id,
            department=dept,
            active=status == "active" and dept_status == "active",
            scopes=frozenset(scopes.split()),
            keys={kid: json.loads(jwk) for kid, jwk in keys},
        )

    def client_state(self, client_id: str, kid: str, *, now: datetime) -> tuple[bool, bool] | None:
        """(active, key still usable) for a token's client and assertion key; None when unknown."""
        key_ok = (
            select(col(ClientKey.id))
            .where(col(ClientKey.system_id) == ClientSystem.id, col(ClientKey.kid) == kid, *_usable(now))
            .exists()
        )
        stmt = (
            select(col(ClientSystem.status), col(Department.status), key_ok)
            .join(Department, col(Department.id) == ClientSystem.department_id)
            .where(col(ClientSystem.client_id) == client_id)
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return row[0] == "active" and row[1] == "active", bool(row[2])

    def claim_assertion(self, client_id: str, jti: str, *, expires_at: datetime) -> bool:
        """Record an assertion id; False when it was used before (by this or another instance)."""
        self._maybe_purge()
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(UsedAssertion).values(client_id=client_id, jti=jti, expires_at=expires_at)
                )
        except IntegrityError:
            return False
        return True

    def purge_expired(self, *, now: datetime | None = None) -> int:
        """Forget assertion ids whose assertion has expired (they can no longer be replayed)."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(UsedAssertion).where(col(UsedAssertion.expires_at) < (now or datetime.now(UTC)))
            )
        return int(result.rowcount or 0)

    def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge >= PURGE_EVERY_S:
            self._last_purge = time.monotonic()
            self.purge_expired()


def _usable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        col(ClientKey.revoked_at).is_(None),
        col(ClientKey.valid_from) <= now,
        col(ClientKey.valid_until).is_(None) | (col(ClientKey.valid_until) > now),
    )

"""Department key rules: register, list, revoke; which keys are valid at a moment."""

import re
from datetime import datetime
from typing import Protocol

from sqlmodel import Session, col, select

from protocol.clock import utcnow
from protocol.crypto_profile import DEFAULT, CryptoProfile
from protocol.errors import Conflict, InvalidRequest, NotFound
from protocol.jose import JoseFailure, import_public, public_jwk
from registry import events
from registry.actors import Actor, require_steward_or
from registry.departments import service as departments
from registry.keys.models import KID_PATTERN, DepartmentKey, KeyCreate, KeyRead

_KID = re.compile(KID_PATTERN)


class Validity(Protocol):
    """What decides a key's status: a stored DepartmentKey or the gateway's cached KeyView."""

    @property
    def not_before(self) -> datetime: ...
    @property
    def not_after(self) -> datetime | None: ...
    @property
    def revoked_at(self) -> datetime | None: ...


def status_at(key: Validity, now: datetime) -> str:
    """`revoked`, `pending` (not yet valid), `expired` or `valid` at a moment."""
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    if key.not_before > now:
        return "pending"
    if key.not_after is not None and key.not_after <= now:
        return "expired"
    return "valid"


def to_read(*, key: DepartmentKey, department: str, now: datetime | None = None) -> KeyRead:
    """The API view of a stored key."""
    return KeyRead(
        department=department,
        kid=key.kid,
        use=key.use,
        jwk=key.jwk,
        not_before=key.not_before,
        not_after=key.not_after,
        revoked_at=key.revoked_at,
        status=status_at(key, now or utcnow()),
    )


def register(
    *,
    session: Session,
    department: str,
    key_in: KeyCreate,
    actor: Actor,
    profile: CryptoProfile = DEFAULT,
) -> DepartmentKey:
    """Register a department's public key (the department or a steward); public, of the profile's type."""
    require_steward_or(actor, department, "register keys of this department")
    dept = departments.get_by_code_or_raise(session=session, code=department)
    kid = key_in.jwk.get("kid")
    if not isinstance(kid, str) or not _KID.match(kid):
        raise InvalidRequest("the JWK needs a `kid` of 1-64 characters from [A-Za-z0-9._:-]")
    if key_in.jwk.get("use", key_in.use) != key_in.use:
        raise InvalidRequest("the JWK's `use` contradicts the key's use")
    try:
        public = import_public(key_in.jwk, use=key_in.use, profile=profile)
    except JoseFailure as exc:
        raise InvalidRequest(f"unusable {key_in.use} key: {exc.detail}") from exc
    now = utcnow()
    not_before = key_in.not_before or now
    if key_in.not_after is not None and key_in.not_after <= not_before:
        raise InvalidRequest("not_after must be later than not_before")
    assert dept.id is not None, "a department read from the database has an id"
    if get(session=session, department_id=dept.id, kid=kid) is not None:
        raise Conflict(f"department {department!r} already has a key {kid!r}")
    key = DepartmentKey(
        department_id=dept.id,
        kid=kid,
        use=key_in.use,
        # Stored as re-exported from the key itself: only public members, nothing else the caller sent.
        jwk={**public_jwk(public, kid=kid), "use": key_in.use},
        not_before=not_before,
        not_after=key_in.not_after,
    )
    session.add(key)
    session.flush()
    events.record(session, type="key.registered", entity="department_key", code=f"{department}/{kid}")
    return key


def get(*, session: Session, department_id: int, kid: str) -> DepartmentKey | None:
    """The key of this department with this kid, or None."""
    stmt = select(DepartmentKey).where(DepartmentKey.department_id == department_id, DepartmentKey.kid == kid)
    return session.exec(stmt).first()


def list_for(*, session: Session, department: str) -> list[DepartmentKey]:
    """Every key of a department, oldest first (revoked and expired ones included, for history)."""
    dept = departments.get_by_code_or_raise(session=session, code=department)
    stmt = (
        select(DepartmentKey)
        .where(DepartmentKey.department_id == dept.id)
        .order_by(col(DepartmentKey.not_before), col(DepartmentKey.id))
    )
    return list(session.exec(stmt))


def revoke(*, session: Session, department: str, kid: str, actor: Actor) -> DepartmentKey:
    """Revoke a key now (the department or a steward); revoking again keeps the first revocation time."""
    require_steward_or(actor, department, "revoke keys of this department")
    dept = departments.get_by_code_or_raise(session=session, code=department)
    assert dept.id is not None, "a department read from the database has an id"
    key = get(session=session, department_id=dept.id, kid=kid)
    if key is None:
        raise NotFound(f"department {department!r} has no key {kid[:64]!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
        # Other gateway instances drop the key from their caches when this event reaches them.
        events.record(session, type="key.revoked", entity="department_key", code=f"{department}/{kid}")
    return key

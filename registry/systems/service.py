"""Client system rules: who may call the exchange, with which keys and scopes."""

import json
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from protocol.clock import as_utc, utcnow
from protocol.errors import Conflict, InvalidRequest, NotFound
from registry.actors import Actor, require_steward, require_steward_or
from registry.departments import service as departments
from registry.departments.models import Department
from registry.pagination import PageParams
from registry.systems.callbacks import callback_urls, check_callback_url
from registry.systems.models import STEWARD_GRANTED_SCOPES as PRIVILEGED
from registry.systems.models import (
    CallbackUrls,
    ClientKey,
    ClientSystem,
    KeyCreate,
    KeyRead,
    SystemCreate,
    SystemRead,
    SystemUpdate,
)

MAX_KEYS = 10


def get_by_client_id(*, session: Session, client_id: str) -> ClientSystem | None:
    """Return the system with this client_id, or None."""
    return session.exec(select(ClientSystem).where(ClientSystem.client_id == client_id)).first()


def get_by_client_id_or_raise(*, session: Session, client_id: str) -> ClientSystem:
    """Return the system with this client_id, or raise NotFound."""
    system = get_by_client_id(session=session, client_id=client_id)
    if system is None:
        raise NotFound(f"no client system {client_id[:64]!r}")
    return system


def _require_manager(
    *, session: Session, system: ClientSystem, actor: Actor, what: str, widens: bool = True
) -> None:
    """A department's systems manage only that department's systems (a steward manages every one).

    A system holding a steward-granted scope is changed and given keys by a steward only: a key added
    to it would hand its power to whoever holds that key. Revoking its keys (`widens=False`) stays
    with its department too, so a leaked key is stopped without waiting for a steward.
    """
    dept = session.get(Department, system.department_id)
    require_steward_or(actor, dept.code if dept else "", what)
    if widens and set(system.scopes.split()) & PRIVILEGED:
        require_steward(actor, f"{what} (it holds a scope only a steward grants)")


def _require_grant(*, actor: Actor, granted: Collection[str]) -> None:
    """Steward and officer powers are never self-granted (DESIGN.md §8): only a steward grants them."""
    privileged = sorted(PRIVILEGED.intersection(granted))
    if privileged:
        require_steward(actor, f"grant {' '.join(privileged)}")


def create(*, session: Session, system_in: SystemCreate, actor: Actor) -> ClientSystem:
    """Register a department's system with its public keys (the department itself or a steward)."""
    require_steward_or(actor, system_in.department, "register a system of this department")
    _require_grant(actor=actor, granted=set(system_in.scopes))
    dept = departments.get_by_code_or_raise(session=session, code=system_in.department)
    if get_by_client_id(session=session, client_id=system_in.client_id) is not None:
        raise Conflict(f"client system {system_in.client_id!r} already exists")
    if len({k.jwk.kid for k in system_in.keys}) != len(system_in.keys):
        raise InvalidRequest("a kid is given twice")
    assert dept.id is not None, "a department read from the database has an id"
    system = ClientSystem(
        client_id=system_in.client_id,
        department_id=dept.id,
        name=system_in.name,
        scopes=" ".join(sorted(set(system_in.scopes))),
    )
    session.add(system)
    session.flush()
    for key_in in system_in.keys:
        _add_key(session=session, system=system, key_in=key_in)
    return system


def update(*, session: Session, system: ClientSystem, system_in: SystemUpdate, actor: Actor) -> ClientSystem:
    """Change status, name or scopes; a disabled system is refused from its next request on."""
    _require_manager(session=session, system=system, actor=actor, what="change this system")
    if system_in.scopes is not None:
        _require_grant(actor=actor, granted=set(system_in.scopes) - set(system.scopes.split()))
    if system_in.status is not None:
        system.status = system_in.status
    if system_in.name is not None:
        system.name = system_in.name
    if system_in.scopes is not None:
        system.scopes = " ".join(sorted(set(system_in.scopes)))
    system.updated_at = utcnow()
    session.add(system)
    session.flush()
    return system


def set_callback_urls(
    *, session: Session, system: ClientSystem, urls_in: CallbackUrls, actor: Actor, environment: str
) -> ClientSystem:
    """Replace the system's callback URLs (its own department or a steward); each is checked first."""
    # widens=False: a callback URL gives no power (it only hears "ready"; results need the token).
    _require_manager(
        session=session, system=system, actor=actor, what="set this system's callbacks", widens=False
    )
    urls = list(dict.fromkeys(check_callback_url(u, environment=environment) for u in urls_in.callback_urls))
    system.callback_urls = " ".join(urls)
    system.updated_at = utcnow()
    session.add(system)
    session.flush()
    return system


def add_key(*, session: Session, system: ClientSystem, key_in: KeyCreate, actor: Actor) -> ClientKey:
    """Register a public key (a rotation adds the new key while the old one is still valid)."""
    _require_manager(session=session, system=system, actor=actor, what="add a key to this system")
    return _add_key(session=session, system=system, key_in=key_in)


def _add_key(*, session: Session, system: ClientSystem, key_in: KeyCreate) -> ClientKey:
    kid = key_in.jwk.kid
    keys = list_keys(session=session, system=system)
    if any(k.kid == kid for k in keys):
        raise Conflict(f"kid {kid!r} is already registered for {system.client_id!r}")
    if len(keys) >= MAX_KEYS:
        raise InvalidRequest(f"at most {MAX_KEYS} keys per system; remove revoked ones first")
    valid_from = key_in.valid_from or utcnow()
    if key_in.valid_until is not None and key_in.valid_until <= valid_from:
        raise InvalidRequest("valid_until must be after valid_from")
    assert system.id is not None, "keys are added to a stored (flushed) system"
    key = ClientKey(
        system_id=system.id,
        kid=kid,
        jwk=key_in.jwk.model_dump_json(exclude_none=True),
        valid_from=valid_from,
        valid_until=key_in.valid_until,
    )
    session.add(key)
    session.flush()
    return key


def revoke_key(*, session: Session, system: ClientSystem, kid: str, actor: Actor) -> ClientKey:
    """Revoke a key at once: assertions and tokens made with it are refused from now on."""
    _require_manager(
        session=session, system=system, actor=actor, what="revoke a key of this system", widens=False
    )
    key = session.exec(
        select(ClientKey).where(ClientKey.system_id == system.id, ClientKey.kid == kid)
    ).first()
    if key is None:
        raise NotFound(f"no key {kid[:100]!r} for {system.client_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.flush()
    return key


def list_keys(*, session: Session, system: ClientSystem) -> list[ClientKey]:
    """Every key of a system, oldest first."""
    return list(
        session.exec(select(ClientKey).where(ClientKey.system_id == system.id).order_by(col(ClientKey.id)))
    )


def list_(*, session: Session, page: PageParams) -> tuple[list[ClientSystem], int]:
    """A page of systems ordered by client_id, and the total."""
    total = session.exec(select(func.count()).select_from(ClientSystem)).one()
    rows = session.exec(
        select(ClientSystem).order_by(col(ClientSystem.client_id)).offset(page.offset).limit(page.limit)
    )
    return list(rows), total


def key_usable(key: ClientKey, now: datetime) -> bool:
    """Whether a key may verify a signature now: inside its window and not revoked."""
    if key.revoked_at is not None:
        return False
    if as_utc(key.valid_from) > now:
        return False
    return key.valid_until is None or now < as_utc(key.valid_until)


def to_read(*, session: Session, system: ClientSystem) -> SystemRead:
    """The API view of a system, with its department code and keys."""
    dept = session.get(Department, system.department_id)
    return SystemRead(
        client_id=system.client_id,
        department=dept.code if dept else "",
        name=system.name,
        status=system.status,
        scopes=system.scopes.split(),
        callback_urls=callback_urls(system),
        keys=[
            KeyRead(
                kid=k.kid,
                jwk=json.loads(k.jwk),
                valid_from=k.valid_from,
                valid_until=k.valid_until,
                revoked_at=k.revoked_at,
            )
            for k in list_keys(session=session, system=system)
        ],
        created_at=system.created_at,
    )

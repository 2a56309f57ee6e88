"""REST API of client systems (OAuth clients) and their public keys."""

from typing import Annotated

from fastapi import APIRouter, Path, status

from registry.deps import ActorDep, PageDep, RegistrySettingsDep, SessionDep
from registry.pagination import Page
from registry.systems import service
from registry.systems.models import (
    CLIENT_ID_PATTERN,
    KID_PATTERN,
    CallbackUrls,
    KeyCreate,
    SystemCreate,
    SystemRead,
    SystemUpdate,
)

router = APIRouter(prefix="/v1/systems", tags=["registry: client systems"])
ClientId = Annotated[str, Path(pattern=CLIENT_ID_PATTERN)]
Kid = Annotated[str, Path(pattern=KID_PATTERN)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SystemRead)
def create_system(body: SystemCreate, session: SessionDep, actor: ActorDep) -> SystemRead:
    """Register a department's system (OAuth client) with its public keys for private_key_jwt.

    Only for the caller's own department (or by a steward); `registry:steward`, `audit:read` and
    `audit:read:all` are granted by a steward only (`403 forbidden`).
    """
    system = service.create(session=session, system_in=body, actor=actor)
    return service.to_read(session=session, system=system)


@router.get("", response_model=Page[SystemRead])
def list_systems(session: SessionDep, page: PageDep) -> Page[SystemRead]:
    """List client systems by client_id."""
    rows, total = service.list_(session=session, page=page)
    items = [service.to_read(session=session, system=r) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{client_id}", response_model=SystemRead)
def read_system(client_id: ClientId, session: SessionDep) -> SystemRead:
    """Read one client system with its keys."""
    system = service.get_by_client_id_or_raise(session=session, client_id=client_id)
    return service.to_read(session=session, system=system)


@router.patch("/{client_id}", response_model=SystemRead)
def update_system(
    client_id: ClientId, body: SystemUpdate, session: SessionDep, actor: ActorDep
) -> SystemRead:
    """Disable or re-enable a system, or change its scopes; effective from its next request."""
    system = service.get_by_client_id_or_raise(session=session, client_id=client_id)
    return service.to_read(
        session=session, system=service.update(session=session, system=system, system_in=body, actor=actor)
    )


@router.post("/{client_id}/keys", status_code=status.HTTP_201_CREATED, response_model=SystemRead)
def add_key(client_id: ClientId, body: KeyCreate, session: SessionDep, actor: ActorDep) -> SystemRead:
    """Add a public key (rotation: register the new key, switch, then revoke the old one)."""
    system = service.get_by_client_id_or_raise(session=session, client_id=client_id)
    service.add_key(session=session, system=system, key_in=body, actor=actor)
    return service.to_read(session=session, system=system)


@router.post("/{client_id}/keys/{kid}/revoke", response_model=SystemRead)
def revoke_key(client_id: ClientId, kid: Kid, session: SessionDep, actor: ActorDep) -> SystemRead:
    """Revoke a key: refused at once by every gateway instance."""
    system = service.get_by_client_id_or_raise(session=session, client_id=client_id)
    service.revoke_key(session=session, system=system, kid=kid, actor=actor)
    return service.to_read(session=session, system=system)


@router.put("/{client_id}/callback-urls", response_model=SystemRead)
def set_callback_urls(
    client_id: ClientId,
    body: CallbackUrls,
    session: SessionDep,
    actor: ActorDep,
    settings: RegistrySettingsDep,
) -> SystemRead:
    """Replace the URLs the gateway may POST this system's async-query callbacks to.

    Only the system's own department or a steward. The gateway calls no other URL for the system,
    whatever a query body says (the SSRF defence, docs/security.md "Callbacks"): https only, plain
    http to 127.0.0.1 or localhost in `SHUYUAN_ENVIRONMENT=development|test`; `400 invalid_request`
    otherwise.
    """
    system = service.get_by_client_id_or_raise(session=session, client_id=client_id)
    service.set_callback_urls(
        session=session, system=system, urls_in=body, actor=actor, environment=settings.environment
    )
    return service.to_read(session=session, system=system)

"""FastAPI dependencies of the registry API."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from registry import events
from registry.db import unit_of_work
from registry.settings import RegistrySettings

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request; a committed write notifies the registry's listeners."""
    with unit_of_work(request.app.state.engine) as session:
        recorded = events.pending(session)
        principal = getattr(request.state, "principal", None)
        if principal is not None:  # behind the gateway: the token names the department and system
            events.act_as(
                session,
                department=getattr(principal, "department", None),
                system=getattr(principal, "client_id", None),
                user=(request.headers.get("X-Actor") or None) and request.headers["X-Actor"][:64],
            )
        yield session
        if not recorded and request.method not in _READ_METHODS:
            # A write whose service names no event still goes on the audit chain, with its actor.
            events.record(session, type="registry.changed", entity="registry", code=request.url.path[:64])
    changes = getattr(request.app.state, "registry_changes", None)
    # A read may record events too (agreements expired at read time): announce those as well.
    if changes is not None and (recorded or request.method not in _READ_METHODS):
        changes.changed(list(recorded))


def get_registry_settings(request: Request) -> RegistrySettings:
    """The registry settings the app was built with (defaults when the app set none)."""
    settings = getattr(request.app.state, "registry_settings", None)
    return settings if settings is not None else RegistrySettings()


# scope="function": commit (and notify) before the response is sent, so a 201 means "stored" and the
# gateway's catalogue is already invalidated when the caller sends its next request.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
RegistrySettingsDep = Annotated[RegistrySettings, Depends(get_registry_settings)]

"""FastAPI dependencies of the registry API."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from sqlmodel import Session

from registry import events
from registry.actors import ANONYMOUS, Actor
from registry.db import unit_of_work
from registry.pagination import PageParams
from registry.settings import RegistrySettings
from registry.state import RegistryState, find_state, state_of

# A row id in a path: bounded like the database's integer keys, so that an id no row can have is
# a 422, not a driver overflow (found by tests/exchange/test_schemathesis_gateway.py).
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ACTOR_HEADER = "X-Actor"
ACTOR_DEPARTMENT_HEADER = "X-Actor-Department"
ACTOR_ROLE_HEADER = "X-Actor-Role"


def registry_state(request: Request) -> RegistryState:
    """The registry's part of the application state (the one way a route reaches it)."""
    return state_of(request.app, RegistryState)


RegistryStateDep = Annotated[RegistryState, Depends(registry_state)]


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request; a committed write notifies the registry's listeners."""
    state = registry_state(request)
    with unit_of_work(state.engine) as session:
        recorded = events.pending(session)
        principal = getattr(request.state, "principal", None)
        if principal is not None:  # behind the gateway: the token names the department and system
            # No user from a header: whoever holds the token could name anyone (issue 9).
            events.act_as(
                session,
                department=getattr(principal, "department", None),
                system=getattr(principal, "client_id", None),
                user=None,
            )
        yield session
        if not recorded and request.method not in _READ_METHODS:
            # A write whose service names no event still goes on the audit chain, with its actor.
            events.record(session, type="registry.changed", entity="registry", code=request.url.path[:64])
    # A read may record events too (agreements expired at read time): announce those as well.
    if recorded or request.method not in _READ_METHODS:
        state.changes.changed(list(recorded))


def get_registry_settings(state: RegistryStateDep) -> RegistrySettings:
    """The registry settings the app was built with."""
    return state.registry_settings


# scope="function": commit (and notify) before the response is sent, so a 201 means "stored" and the
# gateway's catalogue is already invalidated when the caller sends its next request.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
RegistrySettingsDep = Annotated[RegistrySettings, Depends(get_registry_settings)]


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 50,
    offset: Annotated[int, Query(ge=0, description="Rows to skip")] = 0,
) -> PageParams:
    """Read the page parameters from the query string."""
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def current_actor(
    request: Request,
    x_actor: Annotated[
        str | None,
        Header(
            alias=ACTOR_HEADER, max_length=100, description="Ignored behind the gateway (bare registry only)"
        ),
    ] = None,
    x_actor_department: Annotated[
        str | None,
        Header(alias=ACTOR_DEPARTMENT_HEADER, max_length=32, description="Ignored behind the gateway"),
    ] = None,
    x_actor_role: Annotated[
        str | None,
        Header(alias=ACTOR_ROLE_HEADER, max_length=32, description="Ignored behind the gateway"),
    ] = None,
) -> Actor:
    """The acting system: the access token's department and client, steward only by `registry:steward`.

    Behind the gateway (exchange/auth sets `request.state.principal` before any route runs) the token
    alone names the actor: the X-Actor headers are ignored, so no header can grant a role or put a name
    on the record. Only a bare registry app that opted in (`RegistryState.actor_headers`, set by
    tests/registrykit.py and never by the gateway) reads them; any other caller without a token is
    anonymous and is refused every write.
    """
    principal = getattr(request.state, "principal", None)
    if principal is not None:
        department = getattr(principal, "department", None)
        scopes: frozenset[str] = getattr(principal, "scopes", frozenset())
        name = f"system:{getattr(principal, 'client_id', department)}"
        return Actor(name=name, department=department, steward="registry:steward" in scopes)
    state = find_state(request.app, RegistryState)
    if state is None or not state.actor_headers or not x_actor:
        return ANONYMOUS
    return Actor(name=x_actor, department=x_actor_department or None, steward=x_actor_role == "steward")


ActorDep = Annotated[Actor, Depends(current_actor)]

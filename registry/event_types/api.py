"""REST API of the event-type catalogue."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from registry.deps import ActorDep, PageDep, SessionDep
from registry.event_types import service
from registry.event_types.models import EventTypeCreate, EventTypeRead
from registry.pagination import Page

router = APIRouter(prefix="/v1/event-types", tags=["registry: event types"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EventTypeRead)
def create_event_type(body: EventTypeCreate, session: SessionDep, actor: ActorDep) -> EventTypeRead:
    """Register an event type, its payload schema and its one source department (a data steward only)."""
    created = service.create(session=session, event_type_in=body, actor=actor)
    return service.to_read(session=session, event_type=created)


@router.get("", response_model=Page[EventTypeRead])
def list_event_types(
    session: SessionDep, page: PageDep, source: Annotated[str | None, Query(max_length=32)] = None
) -> Page[EventTypeRead]:
    """List the registered event types."""
    rows, total = service.list_(session=session, page=page, source=source)
    return Page(
        items=[service.to_read(session=session, event_type=e) for e in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{code}", response_model=EventTypeRead)
def read_event_type(code: Annotated[str, Path(max_length=64)], session: SessionDep) -> EventTypeRead:
    """Read one event type (its payload schema is what publishers validate against)."""
    return service.to_read(session=session, event_type=service.get_or_raise(session=session, code=code))

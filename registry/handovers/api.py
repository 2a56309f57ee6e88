"""REST API of source handovers."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from registry.deps import ActorDep, PageDep, RowId, SessionDep
from registry.elements import service as elements
from registry.handovers import service
from registry.handovers.models import HandoverCreate, HandoverDecision, HandoverRead, HandoverStatus
from registry.pagination import Page

router = APIRouter(prefix="/v1/handovers", tags=["registry: source handovers"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HandoverRead)
def propose_handover(body: HandoverCreate, session: SessionDep, actor: ActorDep) -> HandoverRead:
    """Propose a new source for an element (steward or the current source)."""
    element = elements.get_by_code_or_raise(session=session, code=body.element)
    handover = service.propose(session=session, element=element, to=body.to, actor=actor, reason=body.reason)
    return service.to_read(session=session, handover=handover)


@router.get("", response_model=Page[HandoverRead])
def list_handovers(
    session: SessionDep,
    page: PageDep,
    status: Annotated[HandoverStatus | None, Query()] = None,
    element: Annotated[str | None, Query(max_length=80)] = None,
    department: Annotated[
        str | None, Query(max_length=32, description="giving or receiving department")
    ] = None,
) -> Page[HandoverRead]:
    """List handovers, newest first."""
    rows, total = service.list_(
        session=session, page=page, status=status, element=element, department=department
    )
    return Page(
        items=[service.to_read(session=session, handover=h) for h in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{handover_id}", response_model=HandoverRead)
def read_handover(handover_id: RowId, session: SessionDep) -> HandoverRead:
    """Read one handover."""
    return service.to_read(
        session=session, handover=service.get_or_raise(session=session, handover_id=handover_id)
    )


@router.post("/{handover_id}/accept", response_model=HandoverRead)
def accept_handover(
    handover_id: RowId, body: HandoverDecision, session: SessionDep, actor: ActorDep
) -> HandoverRead:
    """The receiving department accepts and becomes the one source."""
    handover = service.get_or_raise(session=session, handover_id=handover_id)
    return service.to_read(
        session=session,
        handover=service.accept(session=session, handover=handover, actor=actor, note=body.note),
    )


@router.post("/{handover_id}/reject", response_model=HandoverRead)
def reject_handover(
    handover_id: RowId, body: HandoverDecision, session: SessionDep, actor: ActorDep
) -> HandoverRead:
    """The receiving department declines; the source stays."""
    handover = service.get_or_raise(session=session, handover_id=handover_id)
    return service.to_read(
        session=session,
        handover=service.reject(session=session, handover=handover, actor=actor, note=body.note),
    )

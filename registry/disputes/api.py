"""REST API of source disputes."""

from typing import Annotated

from fastapi import APIRouter, Query

from registry.deps import ActorDep, PageDep, RowId, SessionDep
from registry.disputes import service
from registry.disputes.models import DisputeRead, DisputeResolve, DisputeStatus
from registry.pagination import Page

router = APIRouter(prefix="/v1/disputes", tags=["registry: source disputes"])


@router.get("", response_model=Page[DisputeRead])
def list_disputes(
    session: SessionDep,
    page: PageDep,
    status: Annotated[DisputeStatus | None, Query()] = None,
    element: Annotated[str | None, Query(max_length=80)] = None,
) -> Page[DisputeRead]:
    """List disputes, oldest first."""
    rows, total = service.list_(session=session, page=page, status=status, element=element)
    return Page(
        items=[service.to_read(session=session, dispute=d) for d in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{dispute_id}", response_model=DisputeRead)
def read_dispute(dispute_id: RowId, session: SessionDep) -> DisputeRead:
    """Read one dispute."""
    return service.to_read(
        session=session, dispute=service.get_or_raise(session=session, dispute_id=dispute_id)
    )


@router.post("/{dispute_id}/resolve", response_model=DisputeRead)
def resolve_dispute(
    dispute_id: RowId, body: DisputeResolve, session: SessionDep, actor: ActorDep
) -> DisputeRead:
    """A steward settles a dispute: `keep`, `handover`, `merge` (alias) or `distinct` (register it)."""
    dispute = service.get_or_raise(session=session, dispute_id=dispute_id)
    resolved = service.resolve(
        session=session, dispute=dispute, resolution=body.resolution, actor=actor, note=body.note
    )
    return service.to_read(session=session, dispute=resolved)

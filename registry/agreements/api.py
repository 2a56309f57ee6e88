"""REST API of sharing agreements: request, decide, revoke, overdue list."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from registry.agreements import service
from registry.agreements.models import (
    AgreementCreate,
    AgreementDecision,
    AgreementRead,
    AgreementReason,
    AgreementStatus,
)
from registry.deps import ActorDep, PageDep, RegistrySettingsDep, RowId, SessionDep
from registry.pagination import Page

router = APIRouter(prefix="/v1/agreements", tags=["registry: sharing agreements"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AgreementRead)
def create_agreement(
    body: AgreementCreate, session: SessionDep, actor: ActorDep, settings: RegistrySettingsDep
) -> AgreementRead:
    """Request an agreement for a conditional element (the source must decide within the deadline).

    `agreement_not_needed` for unconditional elements, `not_shared` for not-shared ones,
    `not_necessary_for_purpose` when the service item does not need the element. A department requests
    only as the consumer; `status: approved` records an agreement decided outside the system and is
    for a data steward only (`403 forbidden`).
    """
    if body.status == "requested":
        agreement = service.request(
            session=session,
            agreement_in=body,
            actor=actor,
            working_days=settings.decision_working_days,
            holidays=settings.holidays,
            makeup_workdays=settings.makeup_workdays,
        )
    else:
        agreement = service.create(session=session, agreement_in=body, actor=actor)
    return service.to_read(session=session, agreement=agreement)


@router.get("", response_model=Page[AgreementRead])
def list_agreements(
    session: SessionDep,
    page: PageDep,
    status: Annotated[AgreementStatus | None, Query()] = None,
    consumer: Annotated[str | None, Query(max_length=32)] = None,
    source: Annotated[
        str | None, Query(max_length=32, description="the deciding (source) department")
    ] = None,
    element: Annotated[str | None, Query(max_length=80)] = None,
) -> Page[AgreementRead]:
    """List agreements, newest first (agreements past their validity are marked expired first)."""
    rows, total = service.list_(
        session=session, page=page, status=status, consumer=consumer, source=source, element=element
    )
    return Page(
        items=[service.to_read(session=session, agreement=a) for a in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/overdue", response_model=list[AgreementRead])
def overdue_agreements(session: SessionDep) -> list[AgreementRead]:
    """Requests still undecided after their decision deadline, oldest deadline first."""
    return [service.to_read(session=session, agreement=a) for a in service.overdue(session=session)]


@router.get("/{agreement_id}", response_model=AgreementRead)
def read_agreement(agreement_id: RowId, session: SessionDep) -> AgreementRead:
    """Read one agreement."""
    service.expire_due(session=session)
    return service.to_read(
        session=session, agreement=service.get_or_raise(session=session, agreement_id=agreement_id)
    )


@router.post("/{agreement_id}/approve", response_model=AgreementRead)
def approve_agreement(
    agreement_id: RowId, body: AgreementDecision, session: SessionDep, actor: ActorDep
) -> AgreementRead:
    """The source department (or a steward) approves, optionally narrowing the validity window."""
    agreement = service.get_or_raise(session=session, agreement_id=agreement_id)
    return service.to_read(
        session=session,
        agreement=service.approve(session=session, agreement=agreement, actor=actor, decision=body),
    )


@router.post("/{agreement_id}/reject", response_model=AgreementRead)
def reject_agreement(
    agreement_id: RowId, body: AgreementReason, session: SessionDep, actor: ActorDep
) -> AgreementRead:
    """The source department (or a steward) rejects, with a reason."""
    agreement = service.get_or_raise(session=session, agreement_id=agreement_id)
    return service.to_read(
        session=session,
        agreement=service.reject(session=session, agreement=agreement, actor=actor, reason=body.reason),
    )


@router.post("/{agreement_id}/revoke", response_model=AgreementRead)
def revoke_agreement(
    agreement_id: RowId, body: AgreementReason, session: SessionDep, actor: ActorDep
) -> AgreementRead:
    """The source department (or a steward) withdraws an approved agreement, with a reason."""
    agreement = service.get_or_raise(session=session, agreement_id=agreement_id)
    return service.to_read(
        session=session,
        agreement=service.revoke(session=session, agreement=agreement, actor=actor, reason=body.reason),
    )

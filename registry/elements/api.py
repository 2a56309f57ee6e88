"""REST API of data elements, their history, aliases, claims and impact."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from registry import flows
from registry.aliases import service as aliases
from registry.aliases.models import AliasCreate, AliasRead
from registry.departments import service as departments
from registry.deps import ActorDep, PageDep, SessionDep
from registry.disputes import service as disputes
from registry.disputes.models import ClaimCreate, DisputeRead
from registry.elements import service
from registry.elements.models import (
    DataElement,
    DataGrade,
    ElementCreate,
    ElementRead,
    ElementUpdate,
    HistoryRead,
    RegistrationStatus,
    SharingType,
    StatusChange,
    SubjectTypeField,
)
from registry.impact import service as impact
from registry.impact.service import ImpactReport
from registry.pagination import Page

router = APIRouter(prefix="/v1/elements", tags=["registry: data elements"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ElementRead | DisputeRead,
    responses={
        202: {
            "model": DisputeRead,
            "description": "another department is (or may be) the source: a dispute opened",
        },
        409: {"description": "`conflict`: the same source registered this code already"},
    },
)
def create_element(
    body: ElementCreate, session: SessionDep, actor: ActorDep, response: Response
) -> ElementRead | DisputeRead:
    """Register a data element under its single source department.

    If another department is already the source of this code, or of an element whose names are
    near-duplicates for the same subject type, no element is created: a dispute opens (202).
    """
    outcome = flows.register(session=session, element_in=body, actor=actor)
    if isinstance(outcome, DataElement):
        return service.to_read(session=session, element=outcome)
    response.status_code = status.HTTP_202_ACCEPTED
    return disputes.to_read(session=session, dispute=outcome)


@router.get("", response_model=Page[ElementRead])
def list_elements(
    session: SessionDep,
    page: PageDep,
    source: Annotated[str | None, Query(max_length=32, description="Only elements of this source")] = None,
    q: Annotated[
        str | None,
        Query(max_length=100, description="Search code, Chinese or English name, alias code or name"),
    ] = None,
    status_: Annotated[
        RegistrationStatus | None, Query(alias="status", description="Registration status")
    ] = None,
    subject_type: Annotated[SubjectTypeField | None, Query()] = None,
    sharing_type: Annotated[SharingType | None, Query()] = None,
    grade: Annotated[DataGrade | None, Query()] = None,
) -> Page[ElementRead]:
    """List data elements by code, filtered and searched."""
    rows, total = service.list_(
        session=session,
        page=page,
        source=source,
        q=q,
        status=status_,
        subject_type=subject_type,
        sharing_type=sharing_type,
        grade=grade,
    )
    items = [service.to_read(session=session, element=r) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}", response_model=ElementRead)
def read_element(code: str, session: SessionDep) -> ElementRead:
    """Read one data element."""
    return service.to_read(session=session, element=service.get_by_code_or_raise(session=session, code=code))


@router.patch("/{code}", response_model=ElementRead)
def update_element(code: str, body: ElementUpdate, session: SessionDep, actor: ActorDep) -> ElementRead:
    """Change attributes (steward or the source department); the version goes up and history records it."""
    element = service.get_by_code_or_raise(session=session, code=code)
    return service.to_read(
        session=session,
        element=service.update(session=session, element=element, element_in=body, actor=actor),
    )


@router.post("/{code}/status", response_model=ElementRead)
def change_status(code: str, body: StatusChange, session: SessionDep, actor: ActorDep) -> ElementRead:
    """Move the registration status (steward); superseding or retiring needs the impact `token`."""
    element = service.get_by_code_or_raise(session=session, code=code)
    return service.to_read(
        session=session,
        element=service.change_status(session=session, element=element, change=body, actor=actor),
    )


@router.get("/{code}/history", response_model=Page[HistoryRead])
def element_history(code: str, session: SessionDep, page: PageDep) -> Page[HistoryRead]:
    """Every change of the element, newest first: who, when, what (field -> [old, new]) and why."""
    element = service.get_by_code_or_raise(session=session, code=code)
    rows, total = service.history(session=session, element=element, page=page)
    items = [HistoryRead.model_validate(r, from_attributes=True) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}/impact", response_model=ImpactReport)
def element_impact(code: str, session: SessionDep) -> ImpactReport:
    """Service items, live agreements, subscriptions and aliases depending on the element, and the token
    that confirms them when superseding or retiring."""
    return impact.impact_of(session=session, element=service.get_by_code_or_raise(session=session, code=code))


@router.get("/{code}/aliases", response_model=Page[AliasRead])
def element_aliases(code: str, session: SessionDep, page: PageDep) -> Page[AliasRead]:
    """The local codes and names that resolve to this element."""
    element = service.get_by_code_or_raise(session=session, code=code)
    rows, total = aliases.list_(session=session, page=page, element=element)
    return Page(
        items=[aliases.to_read(session=session, alias=a) for a in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.post("/{code}/aliases", status_code=status.HTTP_201_CREATED, response_model=AliasRead)
def create_alias(code: str, body: AliasCreate, session: SessionDep, actor: ActorDep) -> AliasRead:
    """Map a department's or region's local code and name to this element (409 if the code maps elsewhere)."""
    element = service.get_by_code_or_raise(session=session, code=code)
    return aliases.to_read(
        session=session, alias=aliases.create(session=session, element=element, alias_in=body, actor=actor)
    )


@router.post("/{code}/claims", status_code=status.HTTP_202_ACCEPTED, response_model=DisputeRead)
def claim_element(code: str, body: ClaimCreate, session: SessionDep, actor: ActorDep) -> DisputeRead:
    """A department claims to be the source of an existing element: a dispute opens for a steward."""
    element = service.get_by_code_or_raise(session=session, code=code)
    claimant = departments.get_by_code_or_raise(session=session, code=body.department)
    dispute = disputes.open_(
        session=session, element=element, claimant=claimant, actor=actor, kind="claim", reason=body.reason
    )
    return disputes.to_read(session=session, dispute=dispute)

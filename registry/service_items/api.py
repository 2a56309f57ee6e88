"""REST API of service items."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from protocol.errors import InvalidRequest
from registry.deps import ActorDep, PageDep, SessionDep
from registry.pagination import Page
from registry.service_items import service
from registry.service_items.models import ServiceItemCreate, ServiceItemRead

router = APIRouter(prefix="/v1/service-items", tags=["registry: service items"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ServiceItemRead)
def create_service_item(body: ServiceItemCreate, session: SessionDep, actor: ActorDep) -> ServiceItemRead:
    """Register a service item with its required materials, the elements that replace them and the
    departments that take part (a steward's operation: the item decides who may read for it)."""
    item = service.create(session=session, item_in=body, actor=actor)
    return service.to_read(session=session, item=item)


@router.get("", response_model=Page[ServiceItemRead])
def list_service_items(
    session: SessionDep,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=100, description="Search code or name")] = None,
    handling_department: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[ServiceItemRead]:
    """List service items by code."""
    rows, total = service.list_(session=session, page=page, q=q, handling_department=handling_department)
    items = [service.to_read(session=session, item=r) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}", response_model=ServiceItemRead)
def read_service_item(code: str, session: SessionDep) -> ServiceItemRead:
    """Read one service item with its materials."""
    return service.to_read(session=session, item=service.get_by_code_or_raise(session=session, code=code))


@router.put("/{code}", response_model=ServiceItemRead)
def replace_service_item(
    code: str, body: ServiceItemCreate, session: SessionDep, actor: ActorDep
) -> ServiceItemRead:
    """Replace a service item's name, departments and materials (the body's code must match; stewards)."""
    item = service.get_by_code_or_raise(session=session, code=code)
    if body.code != item.code:
        raise InvalidRequest("the body's code must be the item's code")
    replaced = service.replace(session=session, item=item, item_in=body, actor=actor)
    return service.to_read(session=session, item=replaced)

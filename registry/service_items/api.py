"""REST API of service items."""

from fastapi import APIRouter, status

from registry.deps import SessionDep
from registry.pagination import Page, PageDep
from registry.service_items import service
from registry.service_items.models import ServiceItemCreate, ServiceItemRead

router = APIRouter(prefix="/v1/service-items", tags=["registry: service items"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ServiceItemRead)
def create_service_item(body: ServiceItemCreate, session: SessionDep) -> ServiceItemRead:
    """Register a service item with its required materials and the elements that replace them."""
    return service.to_read(session=session, item=service.create(session=session, item_in=body))


@router.get("", response_model=Page[ServiceItemRead])
def list_service_items(session: SessionDep, page: PageDep) -> Page[ServiceItemRead]:
    """List service items by code."""
    rows, total = service.list_(session=session, page=page)
    items = [service.to_read(session=session, item=r) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}", response_model=ServiceItemRead)
def read_service_item(code: str, session: SessionDep) -> ServiceItemRead:
    """Read one service item with its materials."""
    return service.to_read(session=session, item=service.get_by_code_or_raise(session=session, code=code))

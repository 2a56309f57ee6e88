"""REST API of data elements."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from registry.deps import SessionDep
from registry.elements import service
from registry.elements.models import ElementCreate, ElementRead
from registry.pagination import Page, PageDep

router = APIRouter(prefix="/v1/elements", tags=["registry: data elements"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ElementRead)
def create_element(body: ElementCreate, session: SessionDep) -> ElementRead:
    """Register a data element with its single source department (409 `conflict` if the code exists)."""
    element = service.create(session=session, element_in=body)
    return service.to_read(session=session, element=element)


@router.get("", response_model=Page[ElementRead])
def list_elements(
    session: SessionDep,
    page: PageDep,
    source: Annotated[str | None, Query(max_length=32, description="Only elements of this source")] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="Search code, Chinese or English name")
    ] = None,
) -> Page[ElementRead]:
    """List data elements by code."""
    rows, total = service.list_(session=session, page=page, source=source, q=q)
    items = [service.to_read(session=session, element=r) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}", response_model=ElementRead)
def read_element(code: str, session: SessionDep) -> ElementRead:
    """Read one data element."""
    return service.to_read(session=session, element=service.get_by_code_or_raise(session=session, code=code))

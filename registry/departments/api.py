"""REST API of departments."""

from fastapi import APIRouter, status

from registry.departments import service
from registry.departments.models import DepartmentCreate, DepartmentRead, DepartmentUpdate
from registry.deps import ActorDep, PageDep, SessionDep
from registry.pagination import Page

router = APIRouter(prefix="/v1/departments", tags=["registry: departments"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DepartmentRead)
def create_department(body: DepartmentCreate, session: SessionDep, actor: ActorDep) -> DepartmentRead:
    """Register a department (a data steward only: `403 forbidden` otherwise)."""
    return DepartmentRead.model_validate(
        service.create(session=session, department_in=body, actor=actor), from_attributes=True
    )


@router.get("", response_model=Page[DepartmentRead])
def list_departments(session: SessionDep, page: PageDep) -> Page[DepartmentRead]:
    """List departments by code."""
    rows, total = service.list_(session=session, page=page)
    items = [DepartmentRead.model_validate(r, from_attributes=True) for r in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{code}", response_model=DepartmentRead)
def read_department(code: str, session: SessionDep) -> DepartmentRead:
    """Read one department."""
    return DepartmentRead.model_validate(
        service.get_by_code_or_raise(session=session, code=code), from_attributes=True
    )


@router.patch("/{code}", response_model=DepartmentRead)
def update_department(
    code: str, body: DepartmentUpdate, session: SessionDep, actor: ActorDep
) -> DepartmentRead:
    """Set a source department's answer deadline (a data steward only: `403 forbidden` otherwise).

    A synchronous query asking a source whose deadline is longer than the gateway's sync source
    timeout is answered `202 Accepted` and run in the background (docs/api.md, "Slow sources").
    """
    dept = service.get_by_code_or_raise(session=session, code=code)
    return DepartmentRead.model_validate(
        service.update(session=session, dept=dept, department_in=body, actor=actor), from_attributes=True
    )

"""Departments, the elements each is the source of, and their systems (OAuth clients)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlmodel import col, select

from console.web import DbDep, Pager, Reader, render, settings_of
from registry.departments import service as departments
from registry.elements.models import DataElement
from registry.pagination import PageParams
from registry.systems.models import ClientSystem

router = APIRouter(prefix="/departments")


@router.get("", response_class=HTMLResponse)
def list_departments(request: Request, session: DbDep, _user: Reader) -> HTMLResponse:
    """Every department with how many elements it is the source of and how many systems it runs."""
    size = settings_of(request).page_size
    _rows, total = departments.list_(session=session, page=PageParams(limit=1, offset=0))
    pager = Pager(request, total=total, size=size)
    rows, _ = departments.list_(session=session, page=PageParams(limit=size, offset=pager.offset))
    ids = [d.id for d in rows]
    element_counts = dict(
        session.exec(
            select(col(DataElement.source_department_id), func.count())
            .where(col(DataElement.source_department_id).in_(ids))
            .group_by(col(DataElement.source_department_id))
        ).all()
    )
    system_counts = dict(
        session.exec(
            select(col(ClientSystem.department_id), func.count())
            .where(col(ClientSystem.department_id).in_(ids))
            .group_by(col(ClientSystem.department_id))
        ).all()
    )
    context = {
        "active": "departments",
        "rows": rows,
        "pager": pager,
        "element_counts": element_counts,
        "system_counts": system_counts,
    }
    return render(request, "departments/list.html", context)


@router.get("/{code}", response_class=HTMLResponse)
def department_detail(request: Request, session: DbDep, _user: Reader, code: str) -> HTMLResponse:
    """One department: its systems and the elements it is the single source of."""
    dept = departments.get_by_code_or_raise(session=session, code=code)
    systems = session.exec(
        select(ClientSystem).where(ClientSystem.department_id == dept.id).order_by(ClientSystem.client_id)
    ).all()
    owned = session.exec(
        select(DataElement).where(DataElement.source_department_id == dept.id).order_by(DataElement.code)
    ).all()
    context = {"active": "departments", "d": dept, "systems": systems, "owned": owned}
    return render(request, "departments/detail.html", context)

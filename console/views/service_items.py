"""Service items (政务服务事项) with their materials and coverage (减材料)."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from console.web import DbDep, Pager, Reader, departments_by_code, render, settings_of
from registry.coverage.service import coverage_report
from registry.service_items import service as service_items

router = APIRouter(prefix="/service-items")


@router.get("", response_class=HTMLResponse)
def list_items(request: Request, session: DbDep, _user: Reader) -> HTMLResponse:
    """Every service item with its coverage, and the overall coverage."""
    report = coverage_report(session=session)
    pager = Pager(request, total=len(report.items), size=settings_of(request).page_size)
    context = {
        "active": "service_items",
        "depts": departments_by_code(session),
        "report": report,
        "rows": report.items[pager.offset : pager.offset + pager.size],
        "pager": pager,
    }
    return render(request, "service_items/list.html", context)


@router.get("/{code}", response_class=HTMLResponse)
def item_detail(request: Request, session: DbDep, _user: Reader, code: str) -> HTMLResponse:
    """One service item: each material (whose, in which step), the elements that replace it, and
    whether it is covered; a bundle's steps and the item's subject roles."""
    read = service_items.to_read(
        session=session, item=service_items.get_by_code_or_raise(session=session, code=code)
    )
    item = coverage_report(session=session, item_code=code).items[0]
    step_of = {name: st for st in read.steps for name in st.materials}
    role_of = {m.name: m.subject_role for m in read.materials}
    context = {
        "active": "service_items",
        "depts": departments_by_code(session),
        "item": item,
        "read": read,
        "step_of": step_of,
        "role_of": role_of,
    }
    return render(request, "service_items/detail.html", context)

"""The dashboard: what needs a steward's attention, and how complete the catalogue is."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from console.web import DbDep, Reader, departments_by_code, render
from registry.agreements import service as agreements
from registry.dashboard import dashboard_counts

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, session: DbDep, _user: Reader) -> HTMLResponse:
    """Counts, coverage, pending agreements, open disputes and overdue decisions."""
    counts = dashboard_counts(session=session)
    overdue = [
        agreements.to_read(session=session, agreement=a) for a in agreements.overdue(session=session)[:5]
    ]
    context = {
        "active": "dashboard",
        "depts": departments_by_code(session),
        "d": counts,
        "coverage_pct": round(100 * counts.coverage_ratio),
        "overdue": overdue,
    }
    return render(request, "dashboard.html", context)

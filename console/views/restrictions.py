"""Restrictions awaiting review: departments' embargoes on the citizen's view longer than the default.

A steward or the security officer approves, as the API's `restriction_reviewer` allows, through the
same approval path (exchange/transparency/api.py `approve_reviewed`: audited before it is stored).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.users.models import ConsoleUser
from console.web import DbDep, Pager, console_state, departments_by_code, flash, render, require, settings_of
from exchange.transparency import service
from exchange.transparency.api import approve_reviewed
from protocol.errors import ShuyuanError

router = APIRouter(prefix="/restrictions")
Reviewer = Annotated[ConsoleUser, Depends(require("steward", "security_officer"))]
# The review list is read whole and paged here; the API caps one read at 500, this at a generous 5000.
MAX_ROWS = 5000


@router.get("", response_class=HTMLResponse)
def list_restrictions(
    request: Request, session: DbDep, _user: Reviewer, status: str = "pending"
) -> HTMLResponse:
    """Restrictions newest first: those awaiting approval (default) or all, one page."""
    gateway = console_state(request).gateway
    which = "all" if status == "all" else "pending"
    found = service.list_restrictions(
        engine=gateway.engine,
        approval_after_days=gateway.transparency.settings.approval_after_days,
        pending_only=which == "pending",
        limit=MAX_ROWS,
    )
    pager = Pager(request, total=len(found), size=settings_of(request).page_size)
    context = {
        "active": "restrictions",
        "rows": found[pager.offset : pager.offset + pager.size],
        "pager": pager,
        "status": which,
        "depts": departments_by_code(session),
        "default_days": gateway.transparency.settings.approval_after_days,
    }
    return render(request, "restrictions/list.html", context)


@router.post("/{restriction_id}/approve", response_model=None)
async def approve(request: Request, user: Reviewer, restriction_id: int) -> Response:
    """Approve one restriction: the access stays hidden from the citizen until its embargo date."""
    try:
        await approve_reviewed(
            console_state(request).gateway,
            restriction_id=restriction_id,
            department="console",
            system=f"console:{user.username}"[:64],
        )
        flash(request, "ok", "restrictions.approved_flash", id=restriction_id)
    except ShuyuanError as exc:
        flash(request, "error", "form.refused_code", detail=exc.detail, reason=exc.reason)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/restrictions", status_code=303)

"""The sharing agreements queue: requests waiting for the source's decision, approve or reject."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from console.forms import form_data
from console.web import (
    DbDep,
    Pager,
    Reader,
    Steward,
    actor_of,
    departments_by_code,
    flash,
    render,
    settings_of,
)
from protocol.errors import ShuyuanError
from registry.agreements import service as agreements
from registry.agreements.models import AgreementDecision
from registry.pagination import PageParams

router = APIRouter(prefix="/agreements")
FormDep = Annotated[dict[str, str], Depends(form_data)]
STATUSES = ("requested", "approved", "rejected", "revoked", "expired")


@router.get("", response_class=HTMLResponse)
def queue(
    request: Request, session: DbDep, _user: Reader, status: str = "requested", overdue: str = ""
) -> HTMLResponse:
    """Agreements by status (the undecided requests first), or only the overdue ones."""
    status = status if status in (*STATUSES, "all") else "requested"
    size = settings_of(request).page_size
    if overdue:
        late = agreements.overdue(session=session)
        pager = Pager(request, total=len(late), size=size)
        rows = late[pager.offset : pager.offset + size]
    else:
        wanted = None if status == "all" else status
        _r, total = agreements.list_(session=session, page=PageParams(limit=1, offset=0), status=wanted)
        pager = Pager(request, total=total, size=size)
        rows, _ = agreements.list_(
            session=session, page=PageParams(limit=size, offset=pager.offset), status=wanted
        )
    context = {
        "active": "agreements",
        "depts": departments_by_code(session),
        "rows": [agreements.to_read(session=session, agreement=a) for a in rows],
        "pager": pager,
        "status": status,
        "overdue": bool(overdue),
        "statuses": STATUSES,
    }
    return render(request, "agreements/queue.html", context)


def _detail(
    request: Request, session: Session, agreement_id: int, errors: dict[str, Any], status: int = 200
) -> Response:
    agreement = agreements.get_or_raise(session=session, agreement_id=agreement_id)
    context = {
        "active": "agreements",
        "depts": departments_by_code(session),
        "a": agreements.to_read(session=session, agreement=agreement),
        "errors": errors,
    }
    return render(request, "agreements/detail.html", context, status=status)


@router.get("/{agreement_id}", response_class=HTMLResponse)
def detail(request: Request, session: DbDep, _user: Reader, agreement_id: int) -> Response:
    """One agreement with its decision forms."""
    return _detail(request, session, agreement_id, {})


@router.post("/{agreement_id}/approve", response_class=HTMLResponse, response_model=None)
def approve(request: Request, session: DbDep, user: Steward, agreement_id: int, data: FormDep) -> Response:
    """Approve the request (as a data steward deciding for the source department)."""
    agreement = agreements.get_or_raise(session=session, agreement_id=agreement_id)
    decision = AgreementDecision(reason=data.get("reason", "").strip()[:2000])
    try:
        agreements.approve(session=session, agreement=agreement, actor=actor_of(user), decision=decision)
    except ShuyuanError as exc:
        session.rollback()
        return _detail(
            request, session, agreement_id, {"approve": ("form.refused", {"detail": exc.detail})}, exc.status
        )
    flash(request, "ok", "agreements.approved", id=agreement_id)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/agreements", status_code=303)


@router.post("/{agreement_id}/reject", response_class=HTMLResponse, response_model=None)
def reject(request: Request, session: DbDep, user: Steward, agreement_id: int, data: FormDep) -> Response:
    """Reject the request; a reason is required and shown to the requesting department."""
    agreement = agreements.get_or_raise(session=session, agreement_id=agreement_id)
    reason = data.get("reason", "").strip()[:2000]
    if not reason:
        return _detail(request, session, agreement_id, {"reject": ("agreements.reason_required", {})}, 422)
    try:
        agreements.reject(session=session, agreement=agreement, actor=actor_of(user), reason=reason)
    except ShuyuanError as exc:
        session.rollback()
        return _detail(
            request, session, agreement_id, {"reject": ("form.refused", {"detail": exc.detail})}, exc.status
        )
    flash(request, "ok", "agreements.rejected", id=agreement_id)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/agreements", status_code=303)

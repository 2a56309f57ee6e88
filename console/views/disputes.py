"""Source disputes and handovers: the steward settles who is the one source (一数一源)."""

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
from registry.disputes import service as disputes
from registry.disputes.models import SourceDispute
from registry.elements import service as elements
from registry.elements.models import DataElement
from registry.handovers import service as handovers
from registry.pagination import PageParams

router = APIRouter()
FormDep = Annotated[dict[str, str], Depends(form_data)]
RESOLUTIONS = {"claim": ("keep", "handover"), "near_duplicate": ("keep", "handover", "merge", "distinct")}


@router.get("/disputes", response_class=HTMLResponse)
def list_disputes(request: Request, session: DbDep, _user: Reader, status: str = "open") -> HTMLResponse:
    """Open (or resolved) disputes, and the handovers waiting for the receiving department."""
    status = status if status in ("open", "resolved") else "open"
    size = settings_of(request).page_size
    _r, total = disputes.list_(session=session, page=PageParams(limit=1, offset=0), status=status)
    pager = Pager(request, total=total, size=size)
    rows, _ = disputes.list_(session=session, page=PageParams(limit=size, offset=pager.offset), status=status)
    waiting, _n = handovers.list_(session=session, page=PageParams(limit=100, offset=0), status="proposed")
    context = {
        "active": "disputes",
        "depts": departments_by_code(session),
        "rows": [disputes.to_read(session=session, dispute=d) for d in rows],
        "pager": pager,
        "status": status,
        "handovers": [handovers.to_read(session=session, handover=h) for h in waiting],
    }
    return render(request, "disputes/list.html", context)


def _detail(
    request: Request, session: Session, dispute: SourceDispute, errors: dict[str, Any], status: int = 200
) -> Response:
    element = session.get(DataElement, dispute.element_id)
    context = {
        "active": "disputes",
        "depts": departments_by_code(session),
        "dispute": disputes.to_read(session=session, dispute=dispute),
        "e": element,
        "resolutions": RESOLUTIONS.get(dispute.kind, ("keep", "handover")),
        "errors": errors,
    }
    return render(request, "disputes/detail.html", context, status=status)


@router.get("/disputes/{dispute_id}", response_class=HTMLResponse)
def dispute_detail(request: Request, session: DbDep, _user: Reader, dispute_id: int) -> Response:
    """The disputed element next to the claimant's proposal, and the resolution form."""
    return _detail(request, session, disputes.get_or_raise(session=session, dispute_id=dispute_id), {})


@router.post("/disputes/{dispute_id}/resolve", response_class=HTMLResponse, response_model=None)
def resolve(request: Request, session: DbDep, user: Steward, dispute_id: int, data: FormDep) -> Response:
    """Settle the dispute: keep the source, hand over to the claimant, merge as an alias, or keep both."""
    dispute = disputes.get_or_raise(session=session, dispute_id=dispute_id)
    resolution = data.get("resolution", "")
    if resolution not in RESOLUTIONS.get(dispute.kind, ()):
        return _detail(request, session, dispute, {"resolution": ("form.choice", {})}, 422)
    try:
        disputes.resolve(
            session=session,
            dispute=dispute,
            resolution=resolution,
            actor=actor_of(user),
            note=data.get("note", "").strip()[:2000],
        )
    except ShuyuanError as exc:
        session.rollback()
        dispute = disputes.get_or_raise(session=session, dispute_id=dispute_id)
        return _detail(
            request, session, dispute, {"resolution": ("form.refused", {"detail": exc.detail})}, exc.status
        )
    flash(request, "ok", f"disputes.resolved_{resolution}", id=dispute_id)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/disputes/{dispute_id}", status_code=303)


@router.post("/handovers", response_model=None)
def propose_handover(request: Request, session: DbDep, user: Steward, data: FormDep) -> Response:
    """Propose moving an element's source to another department (it must accept)."""
    code = data.get("element", "")[:80]
    element = elements.get_by_code_or_raise(session=session, code=code)
    to, reason = data.get("to", "").strip()[:32], data.get("reason", "").strip()[:2000]
    if not to or not reason:
        flash(request, "error", "handovers.missing")
    else:
        try:
            handovers.propose(session=session, element=element, to=to, actor=actor_of(user), reason=reason)
            flash(request, "ok", "handovers.proposed", code=code, to=to)
        except ShuyuanError as exc:
            session.rollback()
            flash(request, "error", "element.refused", detail=exc.detail)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/elements/{code}", status_code=303)


@router.post("/handovers/{handover_id}/{decision}", response_model=None)
def decide_handover(
    request: Request, session: DbDep, user: Steward, handover_id: int, decision: str, data: FormDep
) -> Response:
    """Accept (the receiver becomes the source) or reject a proposed handover."""
    handover = handovers.get_or_raise(session=session, handover_id=handover_id)
    note = data.get("note", "").strip()[:2000]
    if decision not in ("accept", "reject"):
        flash(request, "error", "form.choice")
    else:
        try:
            decide = handovers.accept if decision == "accept" else handovers.reject
            decide(session=session, handover=handover, actor=actor_of(user), note=note)
            flash(request, "ok", f"handovers.{decision}ed", id=handover_id)
        except ShuyuanError as exc:
            session.rollback()
            flash(request, "error", "element.refused", detail=exc.detail)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/disputes", status_code=303)

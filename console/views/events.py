"""The event pages (事件): the catalogue's event types and subscriptions, and the delivery board.

The board shows each event's metadata and its deliveries' states, never a copy (ciphertext for its
recipient) nor the subject (stored as a blind index only, docs/events.md).
"""

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Row
from sqlmodel import Session

from console.forms import form_data, parse
from console.web import DbDep, Pager, Reader, Steward, actor_of, departments_by_code, render, settings_of
from exchange.events.board import board
from protocol.errors import ShuyuanError
from registry.event_types import service as event_types
from registry.event_types.models import EventTypeCreate
from registry.pagination import PageParams
from registry.subscriptions import service as subscriptions

router = APIRouter()
FormDep = Annotated[dict[str, str], Depends(form_data)]
STATES = ("sent", "delivered", "acknowledged", "overdue", "dead_lettered")


@router.get("/events", response_class=HTMLResponse)
def delivery_board(
    request: Request, session: DbDep, _user: Reader, state: str = "", department: str = "", type: str = ""
) -> HTMLResponse:
    """Events newest first, each with its deliveries; filtered by state, department and event type."""
    engine = session.get_bind().engine
    chosen = state if state in STATES else None
    size = settings_of(request).page_size

    def page(limit: int, offset: int) -> tuple[list[tuple[Row[Any], Sequence[Row[Any]]]], int]:
        return board(
            engine=engine,
            page=PageParams(limit=limit, offset=offset),
            state=chosen,
            department=department or None,
            event_type=type or None,
        )

    _r, total = page(1, 0)
    pager = Pager(request, total=total, size=size)
    rows, _ = page(size, pager.offset)
    context = {
        "active": "events",
        "depts": departments_by_code(session),
        "rows": rows,
        "pager": pager,
        "state": chosen or "",
        "department": department,
        "type": type,
        "states": STATES,
    }
    return render(request, "events/board.html", context)


@router.get("/event-types", response_class=HTMLResponse)
def event_types_page(request: Request, session: DbDep, _user: Reader) -> HTMLResponse:
    """The catalogue's event types (schema on expand), paged, and its subscriptions."""
    return _types_page(request, session, {}, {})


@router.post("/event-types", response_class=HTMLResponse, response_model=None)
def register_event_type(request: Request, session: DbDep, user: Steward, data: FormDep) -> Response:
    """Register an event type through the registry's own service; a refusal is shown by its field."""
    fields = dict[str, Any](data)
    fields["routing_fields"] = [f.strip() for f in data.get("routing_fields", "").split(",") if f.strip()]
    event_type_in, errors = parse(EventTypeCreate, fields, json_fields=("payload_schema",))
    if errors:
        return _types_page(request, session, data, errors, status=422)
    try:
        event_types.create(session=session, event_type_in=event_type_in, actor=actor_of(user))
    except ShuyuanError as exc:
        session.rollback()
        refused = {"__all__": ("form.refused", {"detail": f"{exc.reason.value}: {exc.detail}"})}
        return _types_page(request, session, data, refused, status=exc.status)
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/event-types", status_code=303)


def _types_page(
    request: Request,
    session: Session,
    data: dict[str, str],
    errors: dict[str, tuple[str, dict[str, Any]]],
    *,
    status: int = 200,
) -> HTMLResponse:
    size = settings_of(request).page_size
    _r, total = event_types.list_(session=session, page=PageParams(limit=1, offset=0))
    pager = Pager(request, total=total, size=size)
    found, _ = event_types.list_(session=session, page=PageParams(limit=size, offset=pager.offset))
    subs, _n = subscriptions.list_(session=session, page=PageParams(limit=200, offset=0))
    context = {
        "active": "event_types",
        "depts": departments_by_code(session),
        "types": [event_types.to_read(session=session, event_type=e) for e in found],
        "subscriptions": [subscriptions.to_read(session=session, subscription=s) for s in subs],
        "pager": pager,
        "data": data,
        "errors": errors,
    }
    return render(request, "events/types.html", context, status=status)

"""The event pages (事件): the catalogue's event types and subscriptions, and the delivery board.

The board shows each event's metadata and its deliveries' states, never a copy (ciphertext for its
recipient) nor the subject (stored as a blind index only, docs/events.md).
"""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Row

from console.web import DbDep, Pager, Reader, departments_by_code, render, settings_of
from exchange.events.board import board
from registry.event_types import service as event_types
from registry.pagination import PageParams
from registry.subscriptions import service as subscriptions

router = APIRouter()
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
    }
    return render(request, "events/types.html", context)

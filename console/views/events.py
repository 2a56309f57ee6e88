"""The event pages (事件): the delivery board here; the event types with the subscriptions
(events_types.py, events_subscriptions.py) and the dead letters (events_dead_letters.py) are included.

The board shows each event's metadata and its deliveries' states, never a copy (ciphertext for its
recipient) nor the subject (stored as a blind index only, docs/events.md).
"""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Row

from console.views import events_dead_letters, events_subscriptions, events_types
from console.web import DbDep, Pager, Reader, departments_by_code, render, settings_of
from exchange.events.board import board
from registry.pagination import PageParams

router = APIRouter()
for _part in (events_types, events_subscriptions, events_dead_letters):
    router.include_router(_part.router)
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

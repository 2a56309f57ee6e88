"""Dead letters (死信): deliveries whose recipient could not use its copy, or never acknowledged it.

Metadata only (event type, publisher, recipient, when, why, attempts): a copy is ciphertext for its
recipient and the subject a blind index, neither is shown. A steward sends one again once its cause is
fixed, through the exchange's one redelivery path (exchange/events/steward.py: audited first).
"""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.web import (
    DbDep,
    Pager,
    Reader,
    Steward,
    console_state,
    departments_by_code,
    flash,
    render,
    settings_of,
)
from exchange.events.board import FAILED_STATES, dead_letters
from exchange.events.steward import redeliver
from protocol.errors import ShuyuanError
from registry.pagination import PageParams

router = APIRouter(prefix="/events/dead-letters")


@router.get("", response_class=HTMLResponse)
def list_dead_letters(
    request: Request,
    session: DbDep,
    _user: Reader,
    state: str = "dead_lettered",
    type: str = "",
    publisher: str = "",
    recipient: str = "",
) -> HTMLResponse:
    """Dead-lettered (or, chosen, overdue) deliveries, latest first, filtered and paged."""
    engine = console_state(request).gateway.engine
    chosen = state if state in FAILED_STATES else "dead_lettered"
    filters = {"event_type": type or None, "publisher": publisher or None, "recipient": recipient or None}
    _r, total = dead_letters(engine=engine, page=PageParams(limit=1, offset=0), state=chosen, **filters)
    pager = Pager(request, total=total, size=settings_of(request).page_size)
    rows, _ = dead_letters(
        engine=engine, page=PageParams(limit=pager.size, offset=pager.offset), state=chosen, **filters
    )
    context = {
        "active": "dead_letters",
        "depts": departments_by_code(session),
        "rows": rows,
        "pager": pager,
        "state": chosen,
        "states": FAILED_STATES,
        "filters": {"type": type, "publisher": publisher, "recipient": recipient},
    }
    return render(request, "events/dead_letters.html", context)


@router.post("/{delivery_id}/redeliver", response_model=None)
async def redeliver_one(request: Request, user: Steward, delivery_id: str) -> Response:
    """Send the stored copy again: back to `sent`, retried with backoff until acknowledged."""
    try:
        done = await redeliver(
            console_state(request).gateway,
            delivery_id=delivery_id[:32],
            department="console",
            system=f"console:{user.username}"[:64],
        )
        flash(request, "ok", "dead_letters.redelivered", event=done.event_id, recipient=done.recipient)
    except ShuyuanError as exc:
        flash(request, "error", "form.refused_code", detail=exc.detail, reason=exc.reason)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/events/dead-letters", status_code=303)

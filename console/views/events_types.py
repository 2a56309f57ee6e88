"""The event-types page (事件类型): the catalogue's types with the steward's form, and the subscriptions.

Both forms call the registry's own services (registry/event_types, registry/subscriptions), so a
refusal is the registry's, shown next to the form with its reason code.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from console.forms import form_data, parse
from console.views.events_conditions import condition_text
from console.web import DbDep, Pager, Reader, Steward, actor_of, departments_by_code, render, settings_of
from protocol.errors import ShuyuanError
from registry.event_types import service as event_types
from registry.event_types.models import EventTypeCreate
from registry.pagination import PageParams
from registry.subscriptions import service as subscriptions

router = APIRouter()
FormDep = Annotated[dict[str, str], Depends(form_data)]
Errors = dict[str, tuple[str, dict[str, Any]]]
# The subscriptions are few (one per subscriber and source); the page lists them whole up to this.
MAX_SUBSCRIPTIONS = 500


@router.get("/event-types", response_class=HTMLResponse)
def event_types_page(request: Request, session: DbDep, _user: Reader) -> HTMLResponse:
    """The catalogue's event types (schema on expand), paged, and its subscriptions."""
    return types_page(request, session)


@router.post("/event-types", response_class=HTMLResponse, response_model=None)
def register_event_type(request: Request, session: DbDep, user: Steward, data: FormDep) -> Response:
    """Register an event type through the registry's own service; a refusal is shown by its field."""
    fields = dict[str, Any](data)
    fields["routing_fields"] = [f.strip() for f in data.get("routing_fields", "").split(",") if f.strip()]
    event_type_in, errors = parse(EventTypeCreate, fields, json_fields=("payload_schema",))
    if errors:
        return types_page(request, session, type_form=(data, errors), status=422)
    try:
        event_types.create(session=session, event_type_in=event_type_in, actor=actor_of(user))
    except ShuyuanError as exc:
        session.rollback()
        refused = {"__all__": ("form.refused", {"detail": f"{exc.reason.value}: {exc.detail}"})}
        return types_page(request, session, type_form=(data, refused), status=exc.status)
    root = request.scope.get("root_path", "")
    return RedirectResponse(f"{root}/event-types", status_code=303)


def types_page(
    request: Request,
    session: Session,
    *,
    type_form: tuple[dict[str, str], Errors] = ({}, {}),
    subscription_form: tuple[dict[str, str], Errors] = ({}, {}),
    status: int = 200,
) -> HTMLResponse:
    """The page, with what either form sent back and its errors (a refusal re-renders it)."""
    size = settings_of(request).page_size
    _r, total = event_types.list_(session=session, page=PageParams(limit=1, offset=0))
    pager = Pager(request, total=total, size=size)
    found, _ = event_types.list_(session=session, page=PageParams(limit=size, offset=pager.offset))
    subs, _n = subscriptions.list_(session=session, page=PageParams(limit=MAX_SUBSCRIPTIONS, offset=0))
    listed = [subscriptions.to_read(session=session, subscription=s) for s in subs]
    depts = departments_by_code(session)
    context = {
        "active": "event_types",
        "depts": depts,
        "dept_codes": sorted(depts),
        "types": [event_types.to_read(session=session, event_type=e) for e in found],
        "subscriptions": [(s, [condition_text(c.model_dump()) for c in s.conditions]) for s in listed],
        "pager": pager,
        "data": type_form[0],
        "errors": type_form[1],
        "sub_data": subscription_form[0],
        "sub_errors": subscription_form[1],
    }
    return render(request, "events/types.html", context, status=status)

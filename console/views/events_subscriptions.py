"""A steward adds and removes subscriptions (订阅) on the event-types page, through the registry's service.

The registry decides (registry/subscriptions/service.py): one subscription per subscriber and source,
types of that source only, conditions on routing fields every type declares. Its refusal is shown next
to the form with its reason code, as the API answers it; a removal is recorded like any registry
change (`registry.subscription.deleted` on the audit chain).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from console.forms import form_data, parse
from console.views.events_conditions import ConditionSyntax, field_types, parse_conditions
from console.views.events_types import types_page
from console.web import DbDep, Steward, actor_of, flash
from protocol.errors import ShuyuanError
from registry.event_types.models import EventType
from registry.subscriptions import service as subscriptions
from registry.subscriptions.models import SubscriptionCreate

router = APIRouter(prefix="/event-types/subscriptions")
FormDep = Annotated[dict[str, str], Depends(form_data)]


def _types_of(data: dict[str, str]) -> list[str]:
    return [t.strip() for t in data.get("event_types", "").replace("，", ",").split(",") if t.strip()]


def _field_types(session: Session, codes: list[str]) -> dict[str, str]:
    found = session.exec(
        select(EventType).where(col(EventType.code).in_(codes)).order_by(col(EventType.code))
    )
    return field_types(e.payload_schema for e in found)


def _back(request: Request) -> RedirectResponse:
    return RedirectResponse(
        f"{request.scope.get('root_path', '')}/event-types#subscriptions", status_code=303
    )


@router.post("", response_class=HTMLResponse, response_model=None)
def add_subscription(request: Request, session: DbDep, user: Steward, data: FormDep) -> Response:
    """Subscribe a department to event types of a source, with conditions on their routing fields."""
    fields = dict[str, Any](data)
    fields["event_types"] = _types_of(data)
    errors: dict[str, tuple[str, dict[str, Any]]] = {}
    try:
        fields["conditions"] = parse_conditions(
            data.get("conditions", ""), _field_types(session, fields["event_types"])
        )
    except ConditionSyntax as exc:
        fields.pop("conditions", None)
        errors["conditions"] = (exc.key, exc.params)
    subscription_in, parsed = parse(SubscriptionCreate, fields)
    errors = parsed | errors
    if errors:
        return types_page(request, session, subscription_form=(data, errors), status=422)
    try:
        created = subscriptions.create(session=session, subscription_in=subscription_in, actor=actor_of(user))
    except ShuyuanError as exc:
        session.rollback()
        refused = {"__all__": ("form.refused_code", {"detail": exc.detail, "reason": exc.reason})}
        return types_page(request, session, subscription_form=(data, refused), status=exc.status)
    flash(request, "ok", "subscriptions.added", id=created.id, subscriber=subscription_in.subscriber)
    return _back(request)


@router.post("/{subscription_id}/remove", response_model=None)
def remove_subscription(request: Request, session: DbDep, user: Steward, subscription_id: int) -> Response:
    """End a subscription: its subscriber is told of no further events of that source."""
    try:
        subscription = subscriptions.get_or_raise(session=session, subscription_id=subscription_id)
        subscriptions.delete(session=session, subscription=subscription, actor=actor_of(user))
        flash(request, "ok", "subscriptions.removed", id=subscription_id)
    except ShuyuanError as exc:
        session.rollback()
        flash(request, "error", "form.refused_code", detail=exc.detail, reason=exc.reason)
    return _back(request)

"""REST API of subscriptions."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from registry.deps import ActorDep, PageDep, RowId, SessionDep
from registry.pagination import Page
from registry.subscriptions import service
from registry.subscriptions.models import SubscriptionCreate, SubscriptionRead, SubscriptionUpdate

router = APIRouter(prefix="/v1/subscriptions", tags=["registry: subscriptions"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionRead)
def create_subscription(body: SubscriptionCreate, session: SessionDep, actor: ActorDep) -> SubscriptionRead:
    """Subscribe a department to event types of a source (a data steward only)."""
    return service.to_read(
        session=session, subscription=service.create(session=session, subscription_in=body, actor=actor)
    )


@router.get("", response_model=Page[SubscriptionRead])
def list_subscriptions(
    session: SessionDep,
    page: PageDep,
    subscriber: Annotated[str | None, Query(max_length=32)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[SubscriptionRead]:
    """List subscriptions."""
    rows, total = service.list_(session=session, page=page, subscriber=subscriber, source=source)
    return Page(
        items=[service.to_read(session=session, subscription=s) for s in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{subscription_id}", response_model=SubscriptionRead)
def read_subscription(subscription_id: RowId, session: SessionDep) -> SubscriptionRead:
    """Read one subscription."""
    return service.to_read(
        session=session, subscription=service.get_or_raise(session=session, subscription_id=subscription_id)
    )


@router.put("/{subscription_id}", response_model=SubscriptionRead)
def update_subscription(
    subscription_id: RowId, body: SubscriptionUpdate, session: SessionDep, actor: ActorDep
) -> SubscriptionRead:
    """Replace the event types and conditions (a data steward only)."""
    subscription = service.get_or_raise(session=session, subscription_id=subscription_id)
    updated = service.update(
        session=session,
        subscription=subscription,
        event_types=body.event_types,
        conditions=body.conditions,
        actor=actor,
    )
    return service.to_read(session=session, subscription=updated)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(subscription_id: RowId, session: SessionDep, actor: ActorDep) -> None:
    """End a subscription (a data steward only)."""
    service.delete(
        session=session,
        subscription=service.get_or_raise(session=session, subscription_id=subscription_id),
        actor=actor,
    )

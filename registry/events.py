"""Registry change events: recorded by services in the unit of work, announced after it commits.

In-process listeners (the gateway's catalogue cache) are told directly; `RegistryEventPublisher`
(registry/event_publisher.py) forwards the events to the `<ns>.registry` Kafka topic so other
processes refresh too.
"""

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from protocol.clock import utcnow

_SESSION_KEY = "shuyuan.registry_events"


class RegistryEvent(BaseModel):
    """One committed registry change, as published on `<ns>.registry`."""

    model_config = ConfigDict(extra="ignore")
    schema_version: Literal[1] = 1
    type: str  # e.g. element.created, agreement.approved
    entity: str  # element, agreement, alias, dispute, handover, service_item, subscription, department
    code: str  # the entity's code (or id for numbered entities)
    version: int = 0  # the element's version after the change; 0 for entities without one
    at: datetime
    origin: str = ""  # the publishing process, so it can ignore its own events
    # Who made the change (the audit chain names them): department, system, user.
    actor_department: str | None = None
    actor_system: str | None = None
    actor_user: str | None = None


_ACTOR_KEY = "shuyuan.registry.actor"


def act_as(session: Session, *, department: str | None, system: str | None, user: str | None) -> None:
    """Name who acts in this unit of work, so every event it records carries them."""
    session.info[_ACTOR_KEY] = (department, system, user)


def record(session: Session, *, type: str, entity: str, code: str, version: int = 0) -> None:
    """Note a change in this unit of work; it is announced only if the transaction commits."""
    department, system, user = session.info.get(_ACTOR_KEY, (None, None, None))
    event = RegistryEvent(
        type=type,
        entity=entity,
        code=code,
        version=version,
        at=utcnow(),
        actor_department=department,
        actor_system=system,
        actor_user=user,
    )
    pending(session).append(event)


def pending(session: Session) -> list[RegistryEvent]:
    """The events recorded in this session so far (the list itself, so it can be read after commit)."""
    events: list[RegistryEvent] = session.info.setdefault(_SESSION_KEY, [])
    return events


class RegistryChanges:
    """Listeners called after a registry transaction commits."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []
        self._event_listeners: list[Callable[[Sequence[RegistryEvent]], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call listener after every committed change."""
        self._listeners.append(listener)

    def subscribe_events(self, listener: Callable[[Sequence[RegistryEvent]], None]) -> None:
        """Call listener with the events of every committed change."""
        self._event_listeners.append(listener)

    def changed_elsewhere(self) -> None:
        """Another process changed the registry: refresh caches (nothing to publish)."""
        for listener in self._listeners:
            listener()

    def changed(self, events: Sequence[RegistryEvent] = ()) -> None:
        """Tell every listener that the registry changed."""
        if not events:
            # A write that recorded nothing specific (e.g. another domain's table) still changes the registry.
            events = [RegistryEvent(type="registry.changed", entity="registry", code="", at=utcnow())]
        for listener in self._listeners:
            listener()
        for event_listener in self._event_listeners:
            event_listener(events)

"""A read-only snapshot of the registry, for deciding queries without touching the database."""

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from registry.agreements.models import SharingAgreement
from registry.departments.models import Department
from registry.elements.models import DataElement
from registry.event_types.models import EventType
from registry.service_items.models import (
    DEFAULT_ROLE,
    Material,
    MaterialElement,
    ServiceItem,
    ServiceItemParticipant,
    ServiceItemStep,
    ServiceItemSubject,
    StepMaterial,
)
from registry.subscriptions.models import Subscription


@dataclass(frozen=True, slots=True)
class ElementView:
    """What the gateway needs to know of an element."""

    code: str
    source: str
    subject_type: str
    sharing_type: str
    status: str
    value_schema: dict[str, Any] | None = None
    consent_required: bool = False


@dataclass(frozen=True, slots=True)
class AgreementView:
    """One agreement's state and validity window."""

    status: str
    valid_from: datetime
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class EventTypeView:
    """What the gateway needs to know of an event type."""

    code: str
    source: str
    status: str
    routing_fields: tuple[str, ...]
    # The routing part of it checks the routing metadata the gateway sees (exchange/events/routing.py).
    payload_schema: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """One subscription: who receives which event types of a source, under which conditions."""

    subscriber: str
    source: str
    event_types: frozenset[str]
    conditions: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class MaterialView:
    """One material of a service item: whose it is, what replaces it, and the step that needs it."""

    name: str
    subject_role: str
    elements: tuple[str, ...]
    step: str | None = None  # the step's code; None: not in a step (a bundle's intake)
    step_department: str | None = None


@dataclass(frozen=True, slots=True)
class RoleView:
    """A subject role of a service item."""

    role: str
    subject_type: str


@dataclass(frozen=True, slots=True)
class ItemView:
    """A service item's structure: its handler, roles, materials in order, and steps (a bundle)."""

    code: str
    handler: str
    roles: tuple[RoleView, ...]
    materials: tuple[MaterialView, ...]
    steps: tuple[str, ...] = ()  # step codes in order; none: not a bundle

    @property
    def bundle(self) -> bool:
        """Whether the item is a bundle (一件事) of steps."""
        return bool(self.steps)


@dataclass(frozen=True)
class Catalogue:
    """The registry as of one moment."""

    departments: dict[str, str] = field(default_factory=dict)  # code -> status
    elements: dict[str, ElementView] = field(default_factory=dict)
    item_elements: dict[str, frozenset[str]] = field(default_factory=dict)  # service item -> needed elements
    # service item -> the departments that may query for it: its handler and its participants
    item_departments: dict[str, frozenset[str]] = field(default_factory=dict)
    agreements: dict[tuple[str, str, str], tuple[AgreementView, ...]] = field(default_factory=dict)
    event_types: dict[str, EventTypeView] = field(default_factory=dict)
    subscriptions: tuple[SubscriptionView, ...] = ()
    # source department -> its answer deadline in seconds, when it has one longer or shorter than the
    # gateway's sync source timeout (slow sources are answered asynchronously: docs/api.md)
    deadlines: dict[str, float] = field(default_factory=dict)
    # service item -> its structure (materials, roles, steps); the per-step purpose rule reads it
    items: dict[str, ItemView] = field(default_factory=dict)


def view_of(element: DataElement, source_code: str) -> ElementView:
    """The gateway's view of an element row, given its source department's code."""
    return ElementView(
        element.code,
        source_code,
        element.subject_type,
        element.sharing_type,
        element.status,
        element.value_schema,
        bool(element.consent_required),
    )


def agreement_view_of(agreement: SharingAgreement) -> AgreementView:
    """An agreement row's state and validity window."""
    return AgreementView(agreement.status, agreement.valid_from, agreement.valid_until)


def read_catalogue(*, session: Session) -> Catalogue:
    """Read the whole registry, as this session sees it, into a Catalogue."""
    depts = {d.id: d for d in session.exec(select(Department))}
    elements = {e.id: e for e in session.exec(select(DataElement))}
    items = {i.id: i for i in session.exec(select(ServiceItem))}
    needed: dict[str, set[str]] = {i.code: set() for i in items.values()}
    users: dict[str, set[str]] = {i.code: {depts[i.handling_department_id].code} for i in items.values()}
    for p in session.exec(select(ServiceItemParticipant)):
        users[items[p.service_item_id].code].add(depts[p.department_id].code)
    for material, link in session.exec(
        select(Material, MaterialElement).join(
            MaterialElement, col(MaterialElement.material_id) == Material.id
        )
    ):
        needed[items[material.service_item_id].code].add(elements[link.element_id].code)
    agreements: dict[tuple[str, str, str], list[AgreementView]] = defaultdict(list)
    for a in session.exec(select(SharingAgreement)):
        key = (
            depts[a.consumer_department_id].code,
            elements[a.element_id].code,
            items[a.service_item_id].code,
        )
        agreements[key].append(agreement_view_of(a))
    event_types = {
        e.code: EventTypeView(
            e.code, depts[e.source_department_id].code, e.status, tuple(e.routing_fields), e.payload_schema
        )
        for e in session.exec(select(EventType))
    }
    subscriptions = tuple(
        SubscriptionView(
            depts[s.subscriber_department_id].code,
            depts[s.source_department_id].code,
            frozenset(s.event_types),
            tuple(s.conditions or ()),
        )
        for s in session.exec(select(Subscription).order_by(col(Subscription.id)))
    )
    return Catalogue(
        departments={d.code: d.status for d in depts.values()},
        elements={e.code: view_of(e, depts[e.source_department_id].code) for e in elements.values()},
        item_elements={code: frozenset(codes) for code, codes in needed.items()},
        item_departments={code: frozenset(codes) for code, codes in users.items()},
        agreements={k: tuple(v) for k, v in agreements.items()},
        event_types=event_types,
        subscriptions=subscriptions,
        deadlines={d.code: d.answer_deadline_s for d in depts.values() if d.answer_deadline_s is not None},
        items=_item_views(session, items, depts, elements),
    )


def _item_views(
    session: Session,
    items: dict[int | None, ServiceItem],
    depts: dict[int | None, Department],
    elements: dict[int | None, DataElement],
) -> dict[str, ItemView]:
    roles: dict[int, list[ServiceItemSubject]] = defaultdict(list)
    for r in session.exec(select(ServiceItemSubject).order_by(col(ServiceItemSubject.position))):
        roles[r.service_item_id].append(r)
    steps: dict[int, list[ServiceItemStep]] = defaultdict(list)
    step_by_id: dict[int | None, ServiceItemStep] = {}
    for st in session.exec(select(ServiceItemStep).order_by(col(ServiceItemStep.position))):
        steps[st.service_item_id].append(st)
        step_by_id[st.id] = st
    step_of: dict[int | None, ServiceItemStep] = {
        link.material_id: step_by_id[link.step_id] for link in session.exec(select(StepMaterial))
    }
    codes: dict[int | None, list[str]] = defaultdict(list)
    for link in session.exec(select(MaterialElement)):
        codes[link.material_id].append(elements[link.element_id].code)
    materials: dict[int, list[Material]] = defaultdict(list)
    for m in session.exec(select(Material).order_by(col(Material.position))):
        materials[m.service_item_id].append(m)
    views: dict[str, ItemView] = {}
    for item_id, item in items.items():
        assert item_id is not None, "an item read from the database has an id"
        mats = materials.get(item_id, [])
        item_roles = tuple(RoleView(r.role, r.subject_type) for r in roles.get(item_id, []))
        if not item_roles:  # the default applicant, of the item's natural subject type
            first = next((sorted(codes[m.id])[0] for m in mats if codes.get(m.id)), None)
            natural = next((e.subject_type for e in elements.values() if e.code == first), "person")
            item_roles = (RoleView(DEFAULT_ROLE, "enterprise" if natural == "enterprise" else "person"),)
        views[item.code] = ItemView(
            code=item.code,
            handler=depts[item.handling_department_id].code,
            roles=item_roles,
            materials=tuple(
                MaterialView(
                    name=m.name,
                    subject_role=m.subject_role or item_roles[0].role,
                    elements=tuple(sorted(codes.get(m.id, []))),
                    step=step.code if (step := step_of.get(m.id)) is not None else None,
                    step_department=depts[step.department_id].code if step is not None else None,
                )
                for m in mats
            ),
            steps=tuple(st.code for st in steps.get(item_id, [])),
        )
    return views


def load_catalogue(engine: Engine) -> Catalogue:
    """Read the whole registry into a Catalogue (a few thousand rows: fine to reload on change)."""
    with Session(engine) as session:
        return read_catalogue(session=session)

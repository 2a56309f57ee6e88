"""Impact analysis: what depends on an element, before it is superseded or retired."""

import hashlib
import json

from pydantic import BaseModel
from sqlmodel import Session, col, select

from registry.agreements.models import SharingAgreement
from registry.aliases.models import ElementAlias
from registry.departments.models import Department
from registry.elements.models import DataElement
from registry.service_items.models import Material, MaterialElement, ServiceItem
from registry.subscriptions.models import Subscription

LIVE_AGREEMENT_STATUSES = ("requested", "approved")


class ItemImpact(BaseModel):
    """A service item with the materials the element helps replace."""

    code: str
    name: str
    materials: list[str]


class AgreementImpact(BaseModel):
    """A live (requested or approved) agreement on the element."""

    id: int
    consumer: str
    service_item: str
    status: str


class SubscriptionImpact(BaseModel):
    """A subscription to the element's source department."""

    id: int
    subscriber: str
    event_types: list[str]


class AliasImpact(BaseModel):
    """An alias that resolves to the element."""

    scope_type: str
    scope: str
    local_code: str
    local_name: str


class ImpactReport(BaseModel):
    """Everything that depends on an element, and the token that confirms having seen it."""

    element: str
    status: str
    service_items: list[ItemImpact]
    agreements: list[AgreementImpact]
    subscriptions: list[SubscriptionImpact]
    aliases: list[AliasImpact]
    token: str = ""


def impact_of(*, session: Session, element: DataElement) -> ImpactReport:
    """List every service item, live agreement, subscription and alias depending on the element."""
    items: dict[str, ItemImpact] = {}
    for item, material in session.exec(
        select(ServiceItem, Material)
        .join(Material, col(Material.service_item_id) == ServiceItem.id)
        .join(MaterialElement, col(MaterialElement.material_id) == Material.id)
        .where(MaterialElement.element_id == element.id)
        .order_by(col(ServiceItem.code), col(Material.position))
    ):
        items.setdefault(
            item.code, ItemImpact(code=item.code, name=item.name, materials=[])
        ).materials.append(material.name)
    depts = {d.id: d.code for d in session.exec(select(Department))}
    item_codes = {i.id: i.code for i in session.exec(select(ServiceItem))}
    agreements = [
        AgreementImpact(
            id=a.id,
            consumer=depts[a.consumer_department_id],
            service_item=item_codes[a.service_item_id],
            status=a.status,
        )
        for a in session.exec(
            select(SharingAgreement)
            .where(
                SharingAgreement.element_id == element.id,
                col(SharingAgreement.status).in_(LIVE_AGREEMENT_STATUSES),
            )
            .order_by(col(SharingAgreement.id))
        )
    ]
    subscriptions = [
        SubscriptionImpact(
            id=s.id, subscriber=depts[s.subscriber_department_id], event_types=list(s.event_types)
        )
        for s in session.exec(
            select(Subscription)
            .where(Subscription.source_department_id == element.source_department_id)
            .order_by(col(Subscription.id))
        )
    ]
    aliases = [
        AliasImpact(scope_type=a.scope_type, scope=a.scope, local_code=a.local_code, local_name=a.local_name)
        for a in session.exec(
            select(ElementAlias)
            .where(ElementAlias.element_id == element.id)
            .order_by(ElementAlias.scope_type, ElementAlias.scope, ElementAlias.local_code)
        )
    ]
    report = ImpactReport(
        element=element.code,
        status=element.status,
        service_items=list(items.values()),
        agreements=agreements,
        subscriptions=subscriptions,
        aliases=aliases,
    )
    # The token is a digest of the list itself: any change to what depends on the element makes an
    # earlier confirmation stale.
    canonical = json.dumps(report.model_dump(exclude={"token"}), sort_keys=True, ensure_ascii=False)
    report.token = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return report

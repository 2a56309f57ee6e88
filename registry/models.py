"""Every registry table, imported in one place so migrations and tests see the whole schema."""

from registry.agreements.models import SharingAgreement
from registry.aliases.models import ElementAlias
from registry.departments.models import Department
from registry.disputes.models import SourceDispute
from registry.elements.models import DataElement, ElementHistory
from registry.event_types.models import EventType
from registry.handovers.models import SourceHandover
from registry.keys.models import DepartmentKey
from registry.service_items.models import (
    Material,
    MaterialElement,
    ServiceItem,
    ServiceItemStep,
    ServiceItemSubject,
    StepMaterial,
)
from registry.subscriptions.models import Subscription
from registry.systems.models import ClientKey, ClientSystem

__all__ = [
    "ClientKey",
    "ClientSystem",
    "DataElement",
    "Department",
    "DepartmentKey",
    "ElementAlias",
    "ElementHistory",
    "EventType",
    "Material",
    "MaterialElement",
    "ServiceItem",
    "ServiceItemStep",
    "ServiceItemSubject",
    "SharingAgreement",
    "SourceDispute",
    "SourceHandover",
    "StepMaterial",
    "Subscription",
]

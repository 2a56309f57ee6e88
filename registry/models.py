"""Every registry table, imported in one place so migrations and tests see the whole schema."""

from registry.agreements.models import SharingAgreement
from registry.departments.models import Department
from registry.elements.models import DataElement
from registry.service_items.models import Material, MaterialElement, ServiceItem

__all__ = ["DataElement", "Department", "Material", "MaterialElement", "ServiceItem", "SharingAgreement"]

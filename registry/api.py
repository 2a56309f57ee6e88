"""Every registry router, for an app to include."""

from fastapi import APIRouter

from registry.agreements.api import router as agreements
from registry.aliases.api import router as aliases
from registry.catalogue_io.api import router as catalogue_io
from registry.coverage.api import router as coverage
from registry.departments.api import router as departments
from registry.disputes.api import router as disputes
from registry.elements.api import router as elements
from registry.event_types.api import router as event_types
from registry.handovers.api import router as handovers
from registry.keys.api import router as keys
from registry.service_items.api import router as service_items
from registry.subscriptions.api import router as subscriptions
from registry.systems.api import router as systems

router = APIRouter()
# Registry domains of the registry issue, besides the skeleton's and identity's routers below.
_REGISTRY_FULL = (aliases, disputes, handovers, subscriptions, event_types, coverage, catalogue_io)
for sub in (departments, elements, service_items, agreements, systems, keys, *_REGISTRY_FULL):
    router.include_router(sub)

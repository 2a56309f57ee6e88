"""Every registry router, for an app to include."""

from fastapi import APIRouter

from registry.agreements.api import router as agreements
from registry.departments.api import router as departments
from registry.elements.api import router as elements
from registry.service_items.api import router as service_items

router = APIRouter()
for sub in (departments, elements, service_items, agreements):
    router.include_router(sub)

"""Coverage (减材料): which required materials of service items the exchange can supply.

A material is `covered` when it is mapped to at least one element and every element replacing it is
active (recorded, qualified or standard), has its source, and can be read by the item's handling
department: unconditional, or conditional with an approved agreement valid now for that department,
element and item. A conditional element without one makes the material `needs_agreement`; no mapped
element, a candidate, superseded or retired element, or a not-shared (不予共享) element makes it
`not_covered`. Coverage = covered materials / all materials.
"""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel
from sqlmodel import Session, select

from protocol.clock import utcnow
from registry.agreements.models import SharingAgreement
from registry.departments.models import Department
from registry.elements.models import DataElement
from registry.service_items.models import Material, MaterialElement, ServiceItem

MaterialStatus = Literal["covered", "needs_agreement", "not_covered"]
_USABLE_STATUSES = frozenset({"recorded", "qualified", "standard"})


class MaterialCoverage(BaseModel):
    """One material and why it is (not) covered."""

    name: str
    elements: list[str]
    status: MaterialStatus
    problems: list[str]


class ItemCoverage(BaseModel):
    """Coverage of one service item."""

    code: str
    name: str
    handling_department: str
    materials: list[MaterialCoverage]
    covered: int
    total: int
    ratio: float


class CoverageReport(BaseModel):
    """Coverage per item and overall."""

    items: list[ItemCoverage]
    covered: int
    needs_agreement: int
    total: int
    ratio: float


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def coverage_report(
    *, session: Session, item_code: str | None = None, now: datetime | None = None
) -> CoverageReport:
    """Coverage of every service item (or of one) and overall."""
    now = now or utcnow()
    depts = {d.id: d.code for d in session.exec(select(Department))}
    elements = {e.id: e for e in session.exec(select(DataElement))}
    stmt = select(ServiceItem).order_by(ServiceItem.code)
    if item_code is not None:
        stmt = stmt.where(ServiceItem.code == item_code)
    items = list(session.exec(stmt))
    links: dict[int, list[int]] = defaultdict(list)
    for link in session.exec(select(MaterialElement)):
        links[link.material_id].append(link.element_id)
    materials: dict[int, list[Material]] = defaultdict(list)
    for material in session.exec(select(Material).order_by(Material.position)):
        materials[material.service_item_id].append(material)
    agreed = {
        (a.consumer_department_id, a.element_id, a.service_item_id)
        for a in session.exec(select(SharingAgreement).where(SharingAgreement.status == "approved"))
        if _aware(a.valid_from) <= now < _aware(a.valid_until)
    }
    reports = []
    for item in items:
        rows = [
            _material(
                m,
                [elements[i] for i in links[m.id]],
                lambda e, it=item: (it.handling_department_id, e.id, it.id) in agreed,
            )  # type: ignore[misc]
            for m in materials[item.id]
        ]
        covered = sum(r.status == "covered" for r in rows)
        reports.append(
            ItemCoverage(
                code=item.code,
                name=item.name,
                handling_department=depts[item.handling_department_id],
                materials=rows,
                covered=covered,
                total=len(rows),
                ratio=round(covered / len(rows), 4) if rows else 0.0,
            )
        )
    covered = sum(r.covered for r in reports)
    total = sum(r.total for r in reports)
    pending = sum(m.status == "needs_agreement" for r in reports for m in r.materials)
    return CoverageReport(
        items=reports,
        covered=covered,
        needs_agreement=pending,
        total=total,
        ratio=round(covered / total, 4) if total else 0.0,
    )


def _material(material: Material, elements: list[DataElement], has_agreement) -> MaterialCoverage:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    needs_agreement = False
    if not elements:
        problems.append("no element replaces this material")
    for element in sorted(elements, key=lambda e: e.code):
        if element.status not in _USABLE_STATUSES:
            problems.append(f"{element.code} is {element.status}")
        elif element.sharing_type == "not_shared":
            problems.append(f"{element.code} is not shared")
        elif element.sharing_type == "conditional" and not has_agreement(element):
            needs_agreement = True
            problems.append(f"{element.code} needs an approved agreement")
    status: MaterialStatus = "covered"
    if any("needs an approved agreement" not in p for p in problems):
        status = "not_covered"
    elif needs_agreement:
        status = "needs_agreement"
    return MaterialCoverage(
        name=material.name, elements=sorted(e.code for e in elements), status=status, problems=problems
    )

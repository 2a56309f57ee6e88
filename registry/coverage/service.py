"""Coverage (减材料): which required materials of service items the exchange can supply.

A material is `covered` when it is mapped to at least one element and every element replacing it is
active (recorded, qualified or standard), has its source, and can be read by the item's handling
department (in a bundle, 一件事: by the department of the material's step): unconditional, or
conditional with an approved agreement valid now for that department, element and item. A
conditional element without one makes the material `needs_agreement`; no mapped element, a
candidate, superseded or retired element, or a not-shared (不予共享) element makes it `not_covered`.
Coverage = covered materials / all materials.

Each element is decided by the one release rule (registry/policy.py) for the item's handling
department (or the material's step's), and the material's status follows from the reason codes it
returns.
"""

from collections import defaultdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlmodel import Session, col, select

from protocol.clock import utcnow
from protocol.reasons import Reason
from registry import policy
from registry.catalogue import Catalogue, read_catalogue
from registry.departments.models import Department
from registry.elements.models import DataElement
from registry.policy import Outcome
from registry.service_items.models import Material, MaterialElement, ServiceItem

MaterialStatus = Literal["covered", "needs_agreement", "not_covered"]


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


def coverage_report(
    *, session: Session, item_code: str | None = None, now: datetime | None = None
) -> CoverageReport:
    """Coverage of every service item (or of one) and overall."""
    now = now or utcnow()
    catalogue = read_catalogue(session=session)
    depts = {d.id: d.code for d in session.exec(select(Department))}
    codes = dict(session.exec(select(DataElement.id, DataElement.code)).all())
    stmt = select(ServiceItem).order_by(ServiceItem.code)
    if item_code is not None:
        stmt = stmt.where(ServiceItem.code == item_code)
    items = list(session.exec(stmt))
    # Keyed as the models type their ids (a row's id is None only before it is flushed).
    links: dict[int | None, list[str]] = defaultdict(list)
    for link in session.exec(select(MaterialElement)):
        links[link.material_id].append(codes[link.element_id])
    materials: dict[int | None, list[Material]] = defaultdict(list)
    for material in session.exec(select(Material).order_by(col(Material.position))):
        materials[material.service_item_id].append(material)
    reports = []
    for item in items:
        # The item's handling department is the consumer that would read the elements.
        consumer = depts[item.handling_department_id]
        # In a bundle (一件事) a step's material is read by the step's department (registry/policy.py).
        view = catalogue.items.get(item.code)
        readers = {m.name: policy.material_reader(view, m) for m in view.materials} if view else {}
        rows = [
            _material(
                m,
                sorted(links[m.id]),
                catalogue,
                consumer=readers.get(m.name, consumer),
                item=item.code,
                now=now,
            )
            for m in materials[item.id]
        ]
        covered = sum(r.status == "covered" for r in rows)
        reports.append(
            ItemCoverage(
                code=item.code,
                name=item.name,
                handling_department=consumer,
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


def _material(
    material: Material, codes: list[str], catalogue: Catalogue, *, consumer: str, item: str, now: datetime
) -> MaterialCoverage:
    outcomes = [Outcome.NOT_USABLE] if not codes else []
    problems = ["no element replaces this material"] if not codes else []
    for code in codes:
        reason = policy.release_reason(
            catalogue, consumer=consumer, element_code=code, service_item=item, subject_type=None, now=now
        )
        outcomes.append(policy.outcome_of(reason))
        if reason is not None:
            problems.append(_problem(catalogue, code, reason))
    status: MaterialStatus = "covered"
    if Outcome.NOT_USABLE in outcomes:
        status = "not_covered"
    elif Outcome.NEEDS_AGREEMENT in outcomes:
        status = "needs_agreement"
    return MaterialCoverage(name=material.name, elements=codes, status=status, problems=problems)


def _problem(catalogue: Catalogue, code: str, reason: Reason) -> str:
    # For people: the status is computed from the reason codes above, never from this text.
    element = catalogue.elements.get(code)
    if element is not None and reason in (Reason.RETIRED_ELEMENT, Reason.CANDIDATE_ELEMENT):
        return f"{code} is {element.status}"
    if reason is Reason.NOT_SHARED:
        return f"{code} is not shared"
    if reason in policy.AGREEMENT_REASONS:
        return f"{code} needs an approved agreement"
    return f"{code} is refused ({reason})"

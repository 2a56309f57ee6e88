"""Counts for the stewards' console dashboard."""

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from registry.agreements import service as agreements
from registry.agreements.models import SharingAgreement
from registry.coverage.service import coverage_report
from registry.departments.models import Department
from registry.disputes.models import SourceDispute
from registry.elements.models import DataElement
from registry.handovers.models import SourceHandover
from registry.service_items.models import ServiceItem


class DashboardCounts(BaseModel):
    """What the dashboard shows."""

    elements_by_status: dict[str, int]
    elements: int
    departments: int
    service_items: int
    coverage_ratio: float
    materials_covered: int
    materials_total: int
    pending_agreements: int
    open_disputes: int
    open_handovers: int
    overdue_decisions: int


def dashboard_counts(*, session: Session) -> DashboardCounts:
    """Count elements by status, departments, items, coverage, pending agreements, disputes, overdue."""
    by_status = dict(
        session.exec(select(DataElement.status, func.count()).group_by(DataElement.status)).all()
    )
    coverage = coverage_report(session=session)

    def count(model: type, *where: ColumnElement[bool]) -> int:
        return session.exec(select(func.count()).select_from(model).where(*where)).one()

    return DashboardCounts(
        elements_by_status=by_status,
        elements=sum(by_status.values()),
        departments=count(Department),
        service_items=count(ServiceItem),
        coverage_ratio=coverage.ratio,
        materials_covered=coverage.covered,
        materials_total=coverage.total,
        pending_agreements=count(SharingAgreement, col(SharingAgreement.status) == "requested"),
        open_disputes=count(SourceDispute, col(SourceDispute.status) == "open"),
        open_handovers=count(SourceHandover, col(SourceHandover.status) == "proposed"),
        overdue_decisions=len(agreements.overdue(session=session)),
    )

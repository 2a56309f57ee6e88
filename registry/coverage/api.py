"""REST API of coverage reports and the dashboard counts."""

from fastapi import APIRouter

from registry.coverage.service import CoverageReport, ItemCoverage, coverage_report
from registry.dashboard import DashboardCounts, dashboard_counts
from registry.deps import SessionDep
from registry.service_items import service as service_items

router = APIRouter(tags=["registry: coverage"])


@router.get("/v1/coverage", response_model=CoverageReport)
def overall_coverage(session: SessionDep) -> CoverageReport:
    """Which materials of every service item the exchange can supply (减材料), per item and overall."""
    return coverage_report(session=session)


@router.get("/v1/service-items/{code}/coverage", response_model=ItemCoverage)
def item_coverage(code: str, session: SessionDep) -> ItemCoverage:
    """Coverage of one service item's materials."""
    item = service_items.get_by_code_or_raise(session=session, code=code)
    return coverage_report(session=session, item_code=item.code).items[0]


@router.get("/v1/registry/dashboard", response_model=DashboardCounts)
def registry_dashboard(session: SessionDep) -> DashboardCounts:
    """Counts for the stewards' dashboard."""
    return dashboard_counts(session=session)

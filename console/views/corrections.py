"""The corrections board (纠错): every correction by state and deadline, and each source's figures.

Stewards and viewers see what a correction is about (element, filer, source, state, deadlines), never
its proposed value (personal data shown only to the filer and the source, docs/corrections.md).
"""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Row

from console.web import DbDep, Pager, Reader, departments_by_code, render, settings_of
from exchange.corrections import service as corrections
from exchange.corrections.quality import source_quality
from exchange.corrections.states import STATES
from protocol.clock import utcnow
from registry.pagination import PageParams

router = APIRouter()


@router.get("/corrections", response_class=HTMLResponse)
def list_corrections(
    request: Request, session: DbDep, _user: Reader, state: str = "", overdue: bool = False
) -> HTMLResponse:
    """Corrections newest first (filtered by state, or overdue ones), and the quality by source."""
    engine = session.get_bind().engine
    chosen = state if state in STATES else None
    now = utcnow()
    size = settings_of(request).page_size

    def page(limit: int, offset: int) -> tuple[Sequence[Row[Any]], int]:
        # A steward's view: every department's corrections.
        return corrections.list_(
            engine=engine,
            department="",
            steward=True,
            role=None,
            state=chosen,
            overdue=overdue,
            now=now,
            page=PageParams(limit=limit, offset=offset),
        )

    _r, total = page(1, 0)
    pager = Pager(request, total=total, size=size)
    rows, _ = page(size, pager.offset)
    context = {
        "active": "corrections",
        "depts": departments_by_code(session),
        "rows": [(r, corrections.is_overdue(r, now=now)) for r in rows],
        "pager": pager,
        "state": chosen or "",
        "overdue": overdue,
        "states": STATES,
        "quality": source_quality(engine, now=now),
    }
    return render(request, "corrections/list.html", context)

"""Per-source quality figures of corrections: how many, how fast taken up and closed, how many late.

The basis of a 好差评-style score of each source department (政务服务"好差评", 国办发〔2019〕51号,
applied here to data quality): a source is judged on how it answers the corrections of its data,
not on how many it gets. Working-day deadlines are the ones each correction carried
(exchange/corrections/settings.py); durations are in calendar hours, as a steward reads them.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import Engine, select

from exchange.corrections.models import Correction
from exchange.corrections.service import is_overdue
from exchange.corrections.states import CLOSED

C = Correction.__table__  # type: ignore[attr-defined]  # SQLModel does not declare __table__
_HOUR = 3600.0


@dataclass(frozen=True)
class SourceQuality:
    """One source department's figures over every correction routed to it."""

    source: str
    total: int
    open: int
    fixed: int
    rejected: int
    overdue: int  # open past a deadline now
    taken_up_in_time: float | None  # share of taken-up corrections accepted by their take-up deadline
    closed_in_time: float | None  # share of closed corrections closed by their close deadline
    median_take_up_h: float | None
    median_close_h: float | None


def _share(hits: int, of: int) -> float | None:
    return hits / of if of else None


def _hours(durations: list[float]) -> float | None:
    return round(median(durations) / _HOUR, 1) if durations else None


def figures(rows: Iterable[Any], *, now: datetime) -> list[SourceQuality]:
    """The figures of each source (sorted by code), from correction rows."""
    by_source: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_source[row.source].append(row)
    out = []
    for source, mine in sorted(by_source.items()):
        accepted = [r for r in mine if r.accepted_at is not None]
        closed = [r for r in mine if r.state in CLOSED and r.closed_at is not None]
        open_ = [r for r in mine if r.state not in CLOSED]
        out.append(
            SourceQuality(
                source=source,
                total=len(mine),
                open=len(open_),
                fixed=sum(r.state == "fixed" for r in mine),
                rejected=sum(r.state == "rejected" for r in mine),
                overdue=sum(is_overdue(r, now=now) for r in open_),
                taken_up_in_time=_share(sum(r.accepted_at <= r.take_up_due for r in accepted), len(accepted)),
                closed_in_time=_share(sum(r.closed_at <= r.close_due for r in closed), len(closed)),
                median_take_up_h=_hours([(r.accepted_at - r.routed_at).total_seconds() for r in accepted]),
                median_close_h=_hours([(r.closed_at - r.routed_at).total_seconds() for r in closed]),
            )
        )
    return out


def source_quality(engine: Engine, *, now: datetime) -> list[SourceQuality]:
    """Every source's figures (one read of the corrections table)."""
    with engine.connect() as conn:
        rows = conn.execute(select(C)).all()
    return figures(rows, now=now)

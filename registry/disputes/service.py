"""Dispute rules: a second department never becomes a second source; a steward settles who is."""

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from protocol.clock import utcnow
from protocol.errors import Conflict, InvalidRequest, NotFound
from registry import events
from registry.actors import Actor, require_steward, require_steward_or
from registry.aliases import service as aliases
from registry.aliases.models import AliasCreate
from registry.departments.models import Department
from registry.disputes.models import DisputeRead, SourceDispute
from registry.elements import service as elements
from registry.elements.models import DataElement, ElementCreate
from registry.errors import InvalidState
from registry.handovers import service as handovers
from registry.pagination import PageParams


def get_or_raise(*, session: Session, dispute_id: int) -> SourceDispute:
    """Return the dispute with this id, or raise NotFound."""
    dispute = session.get(SourceDispute, dispute_id)
    if dispute is None:
        raise NotFound(f"no source dispute {dispute_id}")
    return dispute


def open_(
    *,
    session: Session,
    element: DataElement,
    claimant: Department,
    actor: Actor,
    kind: str,
    reason: str = "",
    proposal: ElementCreate | None = None,
    score: float | None = None,
    matched: str = "",
) -> SourceDispute:
    """Open a dispute (or return the same claimant's open one for this element: claims are idempotent)."""
    require_steward_or(actor, claimant.code, "claim an element for this department")
    if claimant.id == element.source_department_id:
        raise Conflict(f"{claimant.code!r} is already the source of {element.code!r}")
    proposed_code = proposal.code if proposal else None
    for same in session.exec(
        select(SourceDispute).where(
            SourceDispute.element_id == element.id,
            SourceDispute.claimant_department_id == claimant.id,
            SourceDispute.kind == kind,
            SourceDispute.status == "open",
        )
    ):
        # The same claim again (for a near-duplicate: of the same proposed code) is the open dispute.
        if kind == "claim" or (same.proposal or {}).get("code") == proposed_code:
            return same
    assert element.id is not None, "an element read from the database has an id"
    assert claimant.id is not None, "a department read from the database has an id"
    dispute = SourceDispute(
        element_id=element.id,
        claimant_department_id=claimant.id,
        kind=kind,
        proposal=proposal.model_dump(mode="json") if proposal else None,
        score=score,
        matched=matched[:420],
        reason=reason,
        opened_by=actor.label(),
    )
    session.add(dispute)
    session.flush()
    events.record(
        session, type="dispute.opened", entity="dispute", code=element.code, version=element.version
    )
    return dispute


def resolve(
    *, session: Session, dispute: SourceDispute, resolution: str, actor: Actor, note: str = ""
) -> SourceDispute:
    """A steward settles the dispute: keep, handover, merge (alias) or distinct (register the proposal)."""
    require_steward(actor, "resolve a source dispute")
    if dispute.status != "open":
        raise InvalidState(f"dispute {dispute.id} is already {dispute.status}")
    element = session.get(DataElement, dispute.element_id)
    claimant = session.get(Department, dispute.claimant_department_id)
    assert element is not None and claimant is not None
    proposal = ElementCreate.model_validate(dispute.proposal) if dispute.proposal else None
    if resolution == "handover":
        handovers.cancel_open(
            session=session, element=element, actor=actor, note=f"source settled by dispute {dispute.id}"
        )
        elements.set_source(
            session=session,
            element=element,
            department=claimant,
            actor=actor,
            action="dispute_handover",
            reason=note,
        )
    elif resolution == "merge":
        if proposal is None or dispute.kind != "near_duplicate":
            raise InvalidRequest("merge is for near-duplicates: it makes the proposed element an alias")
        alias_in = AliasCreate(
            scope_type="department",
            scope=claimant.code,
            local_code=proposal.code,
            local_name=proposal.name_zh,
        )
        aliases.create(session=session, element=element, alias_in=alias_in, actor=actor)
    elif resolution == "distinct":
        if proposal is None or dispute.kind != "near_duplicate":
            raise InvalidRequest("distinct is for near-duplicates: it registers the proposed element")
        elements.create(
            session=session,
            element_in=proposal.model_copy(update={"reason": note or proposal.reason}),
            actor=actor,
        )
    dispute.status, dispute.resolution, dispute.resolution_note = "resolved", resolution, note
    dispute.resolved_by, dispute.resolved_at = actor.label(), utcnow()
    session.add(dispute)
    session.flush()
    events.record(
        session, type=f"dispute.{resolution}", entity="dispute", code=element.code, version=element.version
    )
    return dispute


def list_(
    *, session: Session, page: PageParams, status: str | None = None, element: str | None = None
) -> tuple[list[SourceDispute], int]:
    """A page of disputes (oldest open first), filtered by status or element, and the total."""
    stmt = select(SourceDispute)
    if status is not None:
        stmt = stmt.where(SourceDispute.status == status)
    if element is not None:
        stmt = stmt.where(
            col(SourceDispute.element_id).in_(select(DataElement.id).where(DataElement.code == element))
        )
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(SourceDispute.id)).offset(page.offset).limit(page.limit))
    return list(rows), total


def to_read(*, session: Session, dispute: SourceDispute) -> DisputeRead:
    """The API view of a dispute."""
    element = session.get(DataElement, dispute.element_id)
    claimant = session.get(Department, dispute.claimant_department_id)
    assert element is not None and claimant is not None
    extra: dict[str, Any] = {
        "element": element.code,
        "source": elements.source_code(session=session, element=element),
        "claimant": claimant.code,
    }
    return DisputeRead.model_validate(dispute.model_dump() | extra)

"""Sharing agreement workflow: request -> approve | reject (by the source) -> revoke | expire."""

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from protocol.clock import as_utc, utcnow
from protocol.errors import Conflict, InvalidRequest, NotFound
from protocol.reasons import Reason
from registry import events, policy
from registry.actors import ANONYMOUS, Actor, require_steward, require_steward_or
from registry.agreements.deadlines import add_working_days
from registry.agreements.models import (
    AgreementCreate,
    AgreementDecision,
    AgreementRead,
    SharingAgreement,
)
from registry.catalogue import read_catalogue
from registry.departments import service as departments
from registry.departments.models import Department
from registry.elements import service as elements
from registry.elements.models import DataElement
from registry.errors import AgreementNotNeeded, Forbidden, InvalidState
from registry.pagination import PageParams
from registry.policy import SharingRule
from registry.service_items import service as service_items
from registry.service_items.models import ServiceItem

DEFAULT_WORKING_DAYS = 10  # the default decision deadline of a conditional-sharing request (DESIGN.md §4)


def get_or_raise(*, session: Session, agreement_id: int) -> SharingAgreement:
    """Return the agreement with this id, or raise NotFound."""
    agreement = session.get(SharingAgreement, agreement_id)
    if agreement is None:
        raise NotFound(f"no sharing agreement {agreement_id}")
    return agreement


def _check_request(*, session: Session, agreement_in: AgreementCreate, now: datetime) -> tuple[int, int, int]:
    consumer = departments.get_by_code_or_raise(session=session, code=agreement_in.consumer)
    element = elements.get_by_code_or_raise(session=session, code=agreement_in.element)
    item = service_items.get_by_code_or_raise(session=session, code=agreement_in.service_item)
    rule = policy.sharing_rule(element.sharing_type)
    if rule is SharingRule.CLOSED:
        raise InvalidRequest(
            f"element {element.code!r} is not shared (不予共享): no agreement is possible",
            reason=Reason.NOT_SHARED,
        )
    if rule is SharingRule.OPEN:
        raise AgreementNotNeeded(
            f"element {element.code!r} is shared unconditionally: no agreement is needed"
        )
    # Agreements are about agreed metadata: a candidate is refused like a retired element.
    status = policy.status_reason(element.status)
    if status is not None:
        raise InvalidRequest(f"element {element.code!r} is {element.status}", reason=status)
    # What the item needs that this consumer may read for it: in a bundle (一件事), only its own steps'
    # materials (registry/policy.py, the rule queries and prefill use).
    needed = policy.needed_elements(read_catalogue(session=session), item.code, consumer.code)
    purpose = policy.purpose_reason(needed or frozenset(), element.code)
    if purpose is not None:
        # Minimum necessary (DESIGN.md §2.2): the purpose must actually need the element.
        raise InvalidRequest(
            f"service item {item.code!r} does not need element {element.code!r} for {consumer.code!r}",
            reason=purpose,
        )
    if agreement_in.valid_until <= agreement_in.valid_from:
        raise InvalidRequest("valid_until must be after valid_from")
    for other in session.exec(
        select(SharingAgreement).where(
            SharingAgreement.consumer_department_id == consumer.id,
            SharingAgreement.element_id == element.id,
            SharingAgreement.service_item_id == item.id,
            col(SharingAgreement.status).in_(("requested", "approved")),
        )
    ):
        if other.status == "requested" or as_utc(other.valid_until) > now:
            raise Conflict(
                f"agreement {other.id} for the same consumer, element and purpose is already {other.status}"
            )
    assert consumer.id is not None and element.id is not None and item.id is not None, (
        "rows read from the database have ids"
    )
    return consumer.id, element.id, item.id


def request(
    *,
    session: Session,
    agreement_in: AgreementCreate,
    actor: Actor = ANONYMOUS,
    now: datetime | None = None,
    working_days: int = DEFAULT_WORKING_DAYS,
    holidays: Collection[date] = (),
    makeup_workdays: Collection[date] = (),
) -> SharingAgreement:
    """A consumer asks for a conditional element for a purpose; the source must decide by the deadline."""
    # A department asks only for itself: naming another consumer would put words in its mouth.
    require_steward_or(actor, agreement_in.consumer, "request an agreement for this consumer")
    now = now or utcnow()
    if agreement_in.valid_until <= now:
        raise InvalidRequest("the requested validity must end in the future")
    consumer_id, element_id, item_id = _check_request(session=session, agreement_in=agreement_in, now=now)
    agreement = SharingAgreement(
        consumer_department_id=consumer_id,
        element_id=element_id,
        service_item_id=item_id,
        legal_basis=agreement_in.legal_basis,
        status="requested",
        valid_from=agreement_in.valid_from,
        valid_until=agreement_in.valid_until,
        created_at=now,
        requested_by=actor.label(),
        decision_due=add_working_days(now, working_days, holidays, makeup_workdays),
    )
    return _stored(session, agreement, "requested")


def create(
    *, session: Session, agreement_in: AgreementCreate, actor: Actor = ANONYMOUS, now: datetime | None = None
) -> SharingAgreement:
    """Request an agreement, or record one approved outside the system (status `approved`)."""
    if agreement_in.status == "requested":
        return request(session=session, agreement_in=agreement_in, actor=actor, now=now)
    require_steward(actor, "record an agreement as approved")
    now = now or utcnow()
    consumer_id, element_id, item_id = _check_request(session=session, agreement_in=agreement_in, now=now)
    agreement = SharingAgreement(
        consumer_department_id=consumer_id,
        element_id=element_id,
        service_item_id=item_id,
        legal_basis=agreement_in.legal_basis,
        status="approved",
        valid_from=agreement_in.valid_from,
        valid_until=agreement_in.valid_until,
        created_at=now,
        requested_by=actor.label(),
        decided_by=actor.label(),
        decided_at=now,
        decision_reason="recorded",
    )
    return _stored(session, agreement, "recorded")


def _stored(session: Session, agreement: SharingAgreement, what: str) -> SharingAgreement:
    session.add(agreement)
    session.flush()
    events.record(session, type=f"agreement.{what}", entity="agreement", code=str(agreement.id))
    return agreement


def _source_of(session: Session, agreement: SharingAgreement) -> str:
    element = session.get(DataElement, agreement.element_id)
    assert element is not None
    return elements.source_code(session=session, element=element)


def _decide(session: Session, agreement: SharingAgreement, actor: Actor, what: str) -> None:
    require_steward_or(
        actor, _source_of(session, agreement), f"{what} this agreement (the source department decides)"
    )
    consumer = session.get(Department, agreement.consumer_department_id)
    if not actor.steward and consumer is not None and actor.department == consumer.code:
        # Never the consumer, even when it is also the source: nobody decides its own request.
        raise Forbidden(f"the consumer may not {what} its own agreement request")
    if agreement.status != "requested":
        raise InvalidState(f"agreement {agreement.id} is {agreement.status}, not requested")


def approve(
    *,
    session: Session,
    agreement: SharingAgreement,
    actor: Actor,
    decision: AgreementDecision | None = None,
    now: datetime | None = None,
) -> SharingAgreement:
    """The source department approves, optionally narrowing the validity window."""
    decision = decision or AgreementDecision()
    _decide(session, agreement, actor, "approve")
    now = now or utcnow()
    valid_from = decision.valid_from or as_utc(agreement.valid_from)
    valid_until = decision.valid_until or as_utc(agreement.valid_until)
    if valid_until <= valid_from or valid_until <= now:
        raise InvalidRequest("the approved validity must be a window that ends in the future")
    agreement.valid_from, agreement.valid_until = valid_from, valid_until
    agreement.status, agreement.decided_by, agreement.decided_at = "approved", actor.label(), now
    agreement.decision_reason = decision.reason
    return _stored(session, agreement, "approved")


def reject(
    *, session: Session, agreement: SharingAgreement, actor: Actor, reason: str, now: datetime | None = None
) -> SharingAgreement:
    """The source department rejects, with a reason."""
    _decide(session, agreement, actor, "reject")
    if not reason.strip():
        raise InvalidRequest("a rejection needs a reason")
    agreement.status, agreement.decided_by, agreement.decided_at = "rejected", actor.label(), now or utcnow()
    agreement.decision_reason = reason
    return _stored(session, agreement, "rejected")


def revoke(
    *, session: Session, agreement: SharingAgreement, actor: Actor, reason: str, now: datetime | None = None
) -> SharingAgreement:
    """The source department (or a steward) withdraws an approved agreement, with a reason."""
    require_steward_or(actor, _source_of(session, agreement), "revoke this agreement")
    if agreement.status != "approved":
        raise InvalidState(
            f"agreement {agreement.id} is {agreement.status}: only approved ones can be revoked"
        )
    if not reason.strip():
        raise InvalidRequest("a revocation needs a reason")
    agreement.status, agreement.revoked_by, agreement.revoked_at = "revoked", actor.label(), now or utcnow()
    agreement.revoke_reason = reason
    return _stored(session, agreement, "revoked")


def expire_due(*, session: Session, now: datetime | None = None) -> list[SharingAgreement]:
    """Mark approved agreements whose validity has ended as expired (run periodically and at read time)."""
    now = now or utcnow()
    expired = [
        a
        for a in session.exec(select(SharingAgreement).where(SharingAgreement.status == "approved"))
        if as_utc(a.valid_until) <= now
    ]
    for agreement in expired:
        agreement.status = "expired"
        _stored(session, agreement, "expired")
    return expired


def overdue(*, session: Session, now: datetime | None = None) -> list[SharingAgreement]:
    """Requests still undecided after their decision deadline, oldest deadline first."""
    now = now or utcnow()
    rows = session.exec(
        select(SharingAgreement)
        .where(SharingAgreement.status == "requested")
        .order_by(col(SharingAgreement.decision_due))
    )
    return [a for a in rows if a.decision_due is not None and as_utc(a.decision_due) < now]


def list_(
    *,
    session: Session,
    page: PageParams,
    status: str | None = None,
    consumer: str | None = None,
    source: str | None = None,
    element: str | None = None,
    now: datetime | None = None,
) -> tuple[list[SharingAgreement], int]:
    """A page of agreements (newest first), expiring due ones first, and the total."""
    expire_due(session=session, now=now)
    stmt = select(SharingAgreement)
    if status is not None:
        stmt = stmt.where(SharingAgreement.status == status)
    if consumer is not None:
        consumer_ids = select(Department.id).where(Department.code == consumer)
        stmt = stmt.where(col(SharingAgreement.consumer_department_id).in_(consumer_ids))
    if source is not None or element is not None:
        stmt = stmt.join(DataElement, col(DataElement.id) == SharingAgreement.element_id)
        if element is not None:
            stmt = stmt.where(DataElement.code == element)
        if source is not None:
            stmt = stmt.where(
                col(DataElement.source_department_id).in_(
                    select(Department.id).where(Department.code == source)
                )
            )
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(SharingAgreement.id).desc()).offset(page.offset).limit(page.limit))
    return list(rows), total


def list_all(*, session: Session) -> list[SharingAgreement]:
    """Every agreement, oldest first."""
    return list(session.exec(select(SharingAgreement).order_by(col(SharingAgreement.id))))


def to_read(*, session: Session, agreement: SharingAgreement, now: datetime | None = None) -> AgreementRead:
    """The API view of an agreement."""
    consumer = session.get(Department, agreement.consumer_department_id)
    element = session.get(DataElement, agreement.element_id)
    item = session.get(ServiceItem, agreement.service_item_id)
    assert consumer and element and item
    now = now or utcnow()
    due = agreement.decision_due
    return AgreementRead(
        id=agreement.id,
        consumer=consumer.code,
        element=element.code,
        source=elements.source_code(session=session, element=element),
        service_item=item.code,
        legal_basis=agreement.legal_basis,
        status=agreement.status,
        valid_from=agreement.valid_from,
        valid_until=agreement.valid_until,
        created_at=agreement.created_at,
        requested_by=agreement.requested_by,
        decision_due=due,
        overdue=agreement.status == "requested" and due is not None and as_utc(due) < now,
        decided_by=agreement.decided_by,
        decided_at=agreement.decided_at,
        decision_reason=agreement.decision_reason,
        revoked_by=agreement.revoked_by,
        revoked_at=agreement.revoked_at,
        revoke_reason=agreement.revoke_reason,
    )

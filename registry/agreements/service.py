"""Sharing agreement rules (the minimum the gateway needs; the registry issue adds the workflow)."""

from sqlmodel import Session, select

from protocol.errors import InvalidRequest
from registry.agreements.models import AgreementCreate, AgreementRead, SharingAgreement
from registry.departments import service as departments
from registry.departments.models import Department
from registry.elements import service as elements
from registry.elements.models import DataElement
from registry.service_items import service as service_items
from registry.service_items.models import ServiceItem


def create(*, session: Session, agreement_in: AgreementCreate) -> SharingAgreement:
    """Record an agreement for a conditional element; unconditional and not-shared ones cannot have one."""
    consumer = departments.get_by_code_or_raise(session=session, code=agreement_in.consumer)
    element = elements.get_by_code_or_raise(session=session, code=agreement_in.element)
    item = service_items.get_by_code_or_raise(session=session, code=agreement_in.service_item)
    if element.sharing_type != "conditional":
        raise InvalidRequest(
            f"element {element.code!r} is {element.sharing_type}: agreements are for conditional ones"
        )
    if agreement_in.valid_until <= agreement_in.valid_from:
        raise InvalidRequest("valid_until must be after valid_from")
    agreement = SharingAgreement(
        consumer_department_id=consumer.id,  # type: ignore[arg-type]
        element_id=element.id,  # type: ignore[arg-type]
        service_item_id=item.id,  # type: ignore[arg-type]
        legal_basis=agreement_in.legal_basis,
        status=agreement_in.status,
        valid_from=agreement_in.valid_from,
        valid_until=agreement_in.valid_until,
    )
    session.add(agreement)
    session.flush()
    return agreement


def to_read(*, session: Session, agreement: SharingAgreement) -> AgreementRead:
    """The API view of an agreement."""
    consumer = session.get(Department, agreement.consumer_department_id)
    element = session.get(DataElement, agreement.element_id)
    item = session.get(ServiceItem, agreement.service_item_id)
    assert consumer and element and item
    return AgreementRead(
        id=agreement.id,  # type: ignore[arg-type]
        consumer=consumer.code,
        element=element.code,
        service_item=item.code,
        legal_basis=agreement.legal_basis,
        status=agreement.status,  # type: ignore[arg-type]
        valid_from=agreement.valid_from,
        valid_until=agreement.valid_until,
    )


def list_all(*, session: Session) -> list[SharingAgreement]:
    """Every agreement, oldest first."""
    return list(session.exec(select(SharingAgreement).order_by(SharingAgreement.id)))  # type: ignore[arg-type]

"""Service item rules: materials and the elements that replace them."""

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from protocol.errors import Conflict, InvalidRequest, NotFound
from registry import events
from registry.actors import Actor, require_steward
from registry.departments import service as departments
from registry.departments.models import Department
from registry.elements import service as elements
from registry.elements.models import DataElement
from registry.pagination import PageParams
from registry.service_items.models import (
    Material,
    MaterialElement,
    MaterialIn,
    ServiceItem,
    ServiceItemCreate,
    ServiceItemParticipant,
    ServiceItemRead,
)


def get_by_code(*, session: Session, code: str) -> ServiceItem | None:
    """Return the service item with this code, or None."""
    return session.exec(select(ServiceItem).where(ServiceItem.code == code)).first()


def get_by_code_or_raise(*, session: Session, code: str) -> ServiceItem:
    """Return the service item with this code, or raise NotFound."""
    item = get_by_code(session=session, code=code)
    if item is None:
        raise NotFound(f"no service item with code {code[:64]!r}")
    return item


def create(*, session: Session, item_in: ServiceItemCreate, actor: Actor) -> ServiceItem:
    """Register a service item with its materials, each mapped to existing elements (stewards only)."""
    # Who handles or takes part in an item decides who may read for it (policy.py): issue 9.
    require_steward(actor, "register service items")
    if get_by_code(session=session, code=item_in.code) is not None:
        raise Conflict(f"service item {item_in.code!r} already exists")
    names = [m.name for m in item_in.materials]
    if len(set(names)) != len(names):
        raise InvalidRequest("material names must be unique within a service item")
    handler = departments.get_by_code_or_raise(session=session, code=item_in.handling_department)
    assert handler.id is not None, "a department read from the database has an id"
    item = ServiceItem(code=item_in.code, name=item_in.name, handling_department_id=handler.id)
    session.add(item)
    session.flush()
    _add_participants(session=session, item=item, item_in=item_in)
    _add_materials(session=session, item=item, item_in=item_in)
    events.record(session, type="service_item.created", entity="service_item", code=item.code)
    return item


def replace(*, session: Session, item: ServiceItem, item_in: ServiceItemCreate, actor: Actor) -> ServiceItem:
    """Replace a service item's name, departments and materials (the code stays; stewards only)."""
    require_steward(actor, "change service items")
    names = [m.name for m in item_in.materials]
    if len(set(names)) != len(names):
        raise InvalidRequest("material names must be unique within a service item")
    handler = departments.get_by_code_or_raise(session=session, code=item_in.handling_department)
    assert handler.id is not None, "a department read from the database has an id"
    item.name, item.handling_department_id = item_in.name, handler.id
    for material in list(session.exec(select(Material).where(Material.service_item_id == item.id))):
        for link in list(
            session.exec(select(MaterialElement).where(MaterialElement.material_id == material.id))
        ):
            session.delete(link)
        session.flush()
        session.delete(material)
    for participant in list(
        session.exec(select(ServiceItemParticipant).where(ServiceItemParticipant.service_item_id == item.id))
    ):
        session.delete(participant)
    session.flush()
    _add_participants(session=session, item=item, item_in=item_in)
    _add_materials(session=session, item=item, item_in=item_in)
    events.record(session, type="service_item.replaced", entity="service_item", code=item.code)
    return item


def _add_participants(*, session: Session, item: ServiceItem, item_in: ServiceItemCreate) -> None:
    assert item.id is not None, "the service item is flushed before its participants are added"
    for code in dict.fromkeys(item_in.participants):
        department = departments.get_by_code(session=session, code=code)
        if department is None:
            raise InvalidRequest(f"participant {code[:32]!r} is not a registered department")
        if department.id == item.handling_department_id:
            raise InvalidRequest(f"{code!r} handles the item: it is not also a participant")
        assert department.id is not None, "a department read from the database has an id"
        session.add(ServiceItemParticipant(service_item_id=item.id, department_id=department.id))


def participant_codes(*, session: Session, item: ServiceItem) -> list[str]:
    """The codes of the departments taking part in an item besides its handler, sorted."""
    rows = session.exec(
        select(Department.code)
        .join(ServiceItemParticipant, col(ServiceItemParticipant.department_id) == Department.id)
        .where(ServiceItemParticipant.service_item_id == item.id)
        .order_by(col(Department.code))
    )
    return list(rows)


def _add_materials(*, session: Session, item: ServiceItem, item_in: ServiceItemCreate) -> None:
    assert item.id is not None, "the service item is flushed before its materials are added"
    for position, material_in in enumerate(item_in.materials):
        material = Material(service_item_id=item.id, name=material_in.name, position=position)
        session.add(material)
        session.flush()
        assert material.id is not None, "a flushed material has an id"
        for code in dict.fromkeys(material_in.elements):
            element = elements.get_by_code(session=session, code=code)
            if element is None:
                raise InvalidRequest(f"material {material_in.name!r} names unknown element {code[:80]!r}")
            assert element.id is not None, "an element read from the database has an id"
            session.add(MaterialElement(material_id=material.id, element_id=element.id))
    session.flush()


def to_read(*, session: Session, item: ServiceItem) -> ServiceItemRead:
    """The API view of a service item with its materials."""
    handler = session.get(Department, item.handling_department_id)
    assert handler is not None
    rows = session.exec(
        select(Material, DataElement.code)
        .join(MaterialElement, col(MaterialElement.material_id) == Material.id, isouter=True)
        .join(DataElement, col(DataElement.id) == MaterialElement.element_id, isouter=True)
        .where(Material.service_item_id == item.id)
        .order_by(col(Material.position), col(DataElement.code))
    ).all()
    materials: dict[int, MaterialIn] = {}
    for material, code in rows:
        assert material.id is not None, "a material read from the database has an id"
        m = materials.setdefault(material.id, MaterialIn(name=material.name, elements=[]))
        if code is not None:
            m.elements.append(code)
    return ServiceItemRead(
        code=item.code,
        name=item.name,
        handling_department=handler.code,
        participants=participant_codes(session=session, item=item),
        materials=list(materials.values()),
        created_at=item.created_at,
    )


def list_(
    *, session: Session, page: PageParams, q: str | None = None, handling_department: str | None = None
) -> tuple[list[ServiceItem], int]:
    """A page of service items by code, searched (code, name) or of one department, and the total."""
    stmt = select(ServiceItem)
    if q:
        stmt = stmt.where(
            or_(
                func.lower(ServiceItem.code).contains(q.casefold(), autoescape=True),
                col(ServiceItem.name).contains(q, autoescape=True),
            )
        )
    if handling_department is not None:
        stmt = stmt.join(Department).where(Department.code == handling_department)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(ServiceItem.code)).offset(page.offset).limit(page.limit))
    return list(rows), total

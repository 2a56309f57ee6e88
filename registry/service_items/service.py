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
    ServiceItemStep,
    ServiceItemSubject,
    StepIn,
    StepMaterial,
    SubjectRoleIn,
)
from registry.service_items.roles import default_subjects, validate_bundle


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
    validate_bundle(item_in)
    handler = departments.get_by_code_or_raise(session=session, code=item_in.handling_department)
    assert handler.id is not None, "a department read from the database has an id"
    item = ServiceItem(code=item_in.code, name=item_in.name, handling_department_id=handler.id)
    session.add(item)
    session.flush()
    _add_participants(session=session, item=item, item_in=item_in)
    _add_materials(session=session, item=item, item_in=item_in)
    _add_subjects_and_steps(session=session, item=item, item_in=item_in)
    events.record(session, type="service_item.created", entity="service_item", code=item.code)
    return item


def replace(*, session: Session, item: ServiceItem, item_in: ServiceItemCreate, actor: Actor) -> ServiceItem:
    """Replace a service item's name, departments and materials (the code stays; stewards only)."""
    require_steward(actor, "change service items")
    validate_bundle(item_in)
    handler = departments.get_by_code_or_raise(session=session, code=item_in.handling_department)
    assert handler.id is not None, "a department read from the database has an id"
    item.name, item.handling_department_id = item_in.name, handler.id
    _delete_subjects_and_steps(session=session, item=item)
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
    _add_subjects_and_steps(session=session, item=item, item_in=item_in)
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
    first_role = item_in.subjects[0].role if item_in.subjects else None
    for position, material_in in enumerate(item_in.materials):
        material = Material(
            service_item_id=item.id,
            name=material_in.name,
            position=position,
            subject_role=material_in.subject_role or first_role,
        )
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


def _add_subjects_and_steps(*, session: Session, item: ServiceItem, item_in: ServiceItemCreate) -> None:
    assert item.id is not None, "the service item is flushed before its roles and steps are added"
    for position, role in enumerate(item_in.subjects):
        session.add(
            ServiceItemSubject(
                service_item_id=item.id,
                role=role.role,
                subject_type=role.subject_type,
                name=role.name,
                position=position,
            )
        )
    material_ids = {
        m.name: m.id for m in session.exec(select(Material).where(Material.service_item_id == item.id))
    }
    for position, step_in in enumerate(item_in.steps):
        department = departments.get_by_code_or_raise(session=session, code=step_in.department)
        assert department.id is not None, "a department read from the database has an id"
        step = ServiceItemStep(
            service_item_id=item.id,
            code=step_in.code,
            name=step_in.name,
            department_id=department.id,
            position=position,
        )
        session.add(step)
        session.flush()
        assert step.id is not None, "a flushed step has an id"
        for name in step_in.materials:
            material_id = material_ids[name]  # validate_bundle checked that the item has it
            assert material_id is not None, "a material read from the database has an id"
            session.add(StepMaterial(material_id=material_id, step_id=step.id))
    session.flush()


def _delete_subjects_and_steps(*, session: Session, item: ServiceItem) -> None:
    steps = list(session.exec(select(ServiceItemStep).where(ServiceItemStep.service_item_id == item.id)))
    for step in steps:
        for link in list(session.exec(select(StepMaterial).where(StepMaterial.step_id == step.id))):
            session.delete(link)
    session.flush()
    for step in steps:
        session.delete(step)
    for role in list(
        session.exec(select(ServiceItemSubject).where(ServiceItemSubject.service_item_id == item.id))
    ):
        session.delete(role)
    session.flush()


def subjects_of(*, session: Session, item: ServiceItem, natural: str | None) -> list[SubjectRoleIn]:
    """The item's subject roles in order; an item that names none has the default applicant role."""
    rows = session.exec(
        select(ServiceItemSubject)
        .where(ServiceItemSubject.service_item_id == item.id)
        .order_by(col(ServiceItemSubject.position))
    ).all()
    if not rows:
        return default_subjects(natural)
    return [SubjectRoleIn(role=r.role, subject_type=r.subject_type, name=r.name) for r in rows]


def steps_of(*, session: Session, item: ServiceItem) -> list[StepIn]:
    """The item's steps in order, each with its department and the names of its materials."""
    rows = session.exec(
        select(ServiceItemStep, Department.code)
        .join(Department, col(Department.id) == ServiceItemStep.department_id)
        .where(ServiceItemStep.service_item_id == item.id)
        .order_by(col(ServiceItemStep.position))
    ).all()
    steps: list[StepIn] = []
    for step, department in rows:
        names = session.exec(
            select(Material.name)
            .join(StepMaterial, col(StepMaterial.material_id) == Material.id)
            .where(StepMaterial.step_id == step.id)
            .order_by(col(Material.position))
        ).all()
        steps.append(StepIn(code=step.code, name=step.name, department=department, materials=list(names)))
    return steps


def to_read(*, session: Session, item: ServiceItem) -> ServiceItemRead:
    """The API view of a service item with its materials, subject roles and steps."""
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
    stored_roles: dict[int, str | None] = {}
    for material, code in rows:
        assert material.id is not None, "a material read from the database has an id"
        m = materials.setdefault(material.id, MaterialIn(name=material.name, elements=[]))
        stored_roles[material.id] = material.subject_role
        if code is not None:
            m.elements.append(code)
    subjects = subjects_of(session=session, item=item, natural=_natural_subject(session, materials))
    for material_id, m in materials.items():
        m.subject_role = stored_roles[material_id] or subjects[0].role
    return ServiceItemRead(
        code=item.code,
        name=item.name,
        handling_department=handler.code,
        participants=participant_codes(session=session, item=item),
        materials=list(materials.values()),
        subjects=subjects,
        steps=steps_of(session=session, item=item),
        created_at=item.created_at,
    )


def _natural_subject(session: Session, materials: dict[int, MaterialIn]) -> str | None:
    """The subject type of the item's first element (materials in order), if it has one."""
    first = next((m.elements[0] for m in materials.values() if m.elements), None)
    if first is None:
        return None
    element = elements.get_by_code(session=session, code=first)
    return element.subject_type if element is not None else None


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

"""Data element rules: one source per element (一数一源)."""

from sqlalchemy import func, or_
from sqlmodel import Session, select

from protocol.errors import Conflict, NotFound
from registry.departments import service as departments
from registry.departments.models import Department
from registry.elements.models import DataElement, ElementCreate, ElementRead
from registry.pagination import PageParams


def get_by_code(*, session: Session, code: str) -> DataElement | None:
    """Return the element with this code, or None."""
    return session.exec(select(DataElement).where(DataElement.code == code)).first()


def get_by_code_or_raise(*, session: Session, code: str) -> DataElement:
    """Return the element with this code, or raise NotFound."""
    element = get_by_code(session=session, code=code)
    if element is None:
        raise NotFound(f"no data element with code {element_code_repr(code)}")
    return element


def element_code_repr(code: str) -> str:
    """A code quoted for an error message, cut so a hostile input cannot flood it."""
    return repr(code[:80])


def create(*, session: Session, element_in: ElementCreate) -> DataElement:
    """Register a new element under its single source department."""
    source = departments.get_by_code_or_raise(session=session, code=element_in.source)
    existing = get_by_code(session=session, code=element_in.code)
    if existing is not None:
        # The registry issue turns this into a dispute; here it is refused outright.
        raise Conflict(f"element {element_in.code!r} already has a source department")
    element = DataElement.model_validate(
        element_in.model_dump(exclude={"source"}) | {"source_department_id": source.id}
    )
    session.add(element)
    session.flush()
    return element


def to_read(*, session: Session, element: DataElement) -> ElementRead:
    """The API view of an element, with its source department's code."""
    source = session.get(Department, element.source_department_id)
    assert source is not None  # the foreign key guarantees it
    return ElementRead.model_validate(element.model_dump() | {"source": source.code})


def list_(
    *, session: Session, page: PageParams, source: str | None = None, q: str | None = None
) -> tuple[list[DataElement], int]:
    """A page of elements, optionally of one source or matching a search term, and the total."""
    stmt = select(DataElement)
    if source is not None:
        stmt = stmt.join(Department).where(Department.code == source)
    if q:
        # autoescape: a search for "_" or "%" means those characters, not LIKE's wildcards.
        stmt = stmt.where(
            or_(
                DataElement.code.contains(q, autoescape=True),  # type: ignore[attr-defined]
                DataElement.name_zh.contains(q, autoescape=True),  # type: ignore[attr-defined]
                DataElement.name_en.contains(q, autoescape=True),  # type: ignore[attr-defined]
            )
        )
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(DataElement.code).offset(page.offset).limit(page.limit))
    return list(rows), total

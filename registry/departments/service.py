"""Department rules."""

from sqlalchemy import func
from sqlmodel import Session, select

from protocol.errors import Conflict, NotFound
from registry.actors import Actor, require_steward
from registry.departments.models import Department, DepartmentCreate, DepartmentUpdate
from registry.pagination import PageParams


def get_by_code(*, session: Session, code: str) -> Department | None:
    """Return the department with this code, or None."""
    return session.exec(select(Department).where(Department.code == code)).first()


def get_by_code_or_raise(*, session: Session, code: str) -> Department:
    """Return the department with this code, or raise NotFound."""
    dept = get_by_code(session=session, code=code)
    if dept is None:
        raise NotFound(f"no department with code {code!r}")
    return dept


def create(*, session: Session, department_in: DepartmentCreate, actor: Actor) -> Department:
    """Register a department (a steward only: a department never creates another one)."""
    require_steward(actor, "register a department")
    if get_by_code(session=session, code=department_in.code) is not None:
        raise Conflict(f"department {department_in.code!r} already exists")
    dept = Department.model_validate(department_in)
    session.add(dept)
    session.flush()
    return dept


def update(
    *, session: Session, dept: Department, department_in: DepartmentUpdate, actor: Actor
) -> Department:
    """Set a source's answer deadline (a steward only: it decides which queries are answered later)."""
    require_steward(actor, "change a department")
    if "answer_deadline_s" in department_in.model_fields_set:
        dept.answer_deadline_s = department_in.answer_deadline_s
    session.add(dept)
    session.flush()
    return dept


def list_(*, session: Session, page: PageParams) -> tuple[list[Department], int]:
    """A page of departments ordered by code, and the total."""
    total = session.exec(select(func.count()).select_from(Department)).one()
    rows = session.exec(select(Department).order_by(Department.code).offset(page.offset).limit(page.limit))
    return list(rows), total

"""Alias rules: a (scope, local code) resolves to exactly one canonical element."""

from sqlalchemy import func
from sqlmodel import Session, select

from protocol.errors import Conflict, NotFound
from registry.actors import Actor
from registry.aliases.models import AliasCreate, AliasRead, ElementAlias
from registry.elements import service as elements
from registry.elements.models import DataElement
from registry.pagination import PageParams


def get_or_raise(*, session: Session, alias_id: int) -> ElementAlias:
    """Return the alias with this id, or raise NotFound."""
    alias = session.get(ElementAlias, alias_id)
    if alias is None:
        raise NotFound(f"no alias {alias_id}")
    return alias


def find(*, session: Session, scope_type: str, scope: str, local_code: str) -> ElementAlias | None:
    """The alias of this scope and local code, or None."""
    return session.exec(
        select(ElementAlias).where(
            ElementAlias.scope_type == scope_type,
            ElementAlias.scope == scope,
            ElementAlias.local_code == local_code,
        )
    ).first()


def resolve(*, session: Session, scope_type: str, scope: str, local_code: str) -> DataElement:
    """The canonical element a local code stands for, or NotFound."""
    alias = find(session=session, scope_type=scope_type, scope=scope, local_code=local_code)
    if alias is None:
        raise NotFound(f"no alias {local_code[:80]!r} in {scope_type} {scope[:32]!r}")
    element = session.get(DataElement, alias.element_id)
    assert element is not None
    return element


def create(*, session: Session, element: DataElement, alias_in: AliasCreate, actor: Actor) -> ElementAlias:
    """Map a local code and name to the element (steward or the element's source department)."""
    elements.require_editor(session=session, element=element, actor=actor, what="add aliases to this element")
    existing = find(
        session=session, scope_type=alias_in.scope_type, scope=alias_in.scope, local_code=alias_in.local_code
    )
    if existing is not None:
        target = session.get(DataElement, existing.element_id)
        raise Conflict(
            f"{alias_in.scope_type} {alias_in.scope!r} code {alias_in.local_code!r} already resolves to "
            f"{target.code if target else '?'!r}: an alias points to one element only"
        )
    assert element.id is not None, "an element read from the database has an id"
    alias = ElementAlias(element_id=element.id, **alias_in.model_dump())
    session.add(alias)
    session.flush()
    elements.record_change(
        session=session,
        element=element,
        action="alias_added",
        actor=actor,
        changes={"alias": [None, _label(alias)]},
    )
    return alias


def delete(*, session: Session, alias: ElementAlias, actor: Actor) -> None:
    """Remove an alias, recorded in the element's history."""
    element = session.get(DataElement, alias.element_id)
    assert element is not None
    elements.require_editor(
        session=session, element=element, actor=actor, what="remove aliases of this element"
    )
    label = _label(alias)
    session.delete(alias)
    session.flush()
    elements.record_change(
        session=session,
        element=element,
        action="alias_removed",
        actor=actor,
        changes={"alias": [label, None]},
    )


def _label(alias: ElementAlias) -> str:
    return f"{alias.scope_type}:{alias.scope}:{alias.local_code} {alias.local_name}"


def list_(
    *,
    session: Session,
    page: PageParams,
    element: DataElement | None = None,
    scope_type: str | None = None,
    scope: str | None = None,
) -> tuple[list[ElementAlias], int]:
    """A page of aliases, filtered by element and scope, and the total."""
    stmt = select(ElementAlias)
    if element is not None:
        stmt = stmt.where(ElementAlias.element_id == element.id)
    if scope_type is not None:
        stmt = stmt.where(ElementAlias.scope_type == scope_type)
    if scope is not None:
        stmt = stmt.where(ElementAlias.scope == scope)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    order = (ElementAlias.scope_type, ElementAlias.scope, ElementAlias.local_code)
    return list(session.exec(stmt.order_by(*order).offset(page.offset).limit(page.limit))), total


def names_of(*, session: Session, element_id: int) -> list[str]:
    """The local names of an element's aliases (for near-duplicate detection)."""
    return list(session.exec(select(ElementAlias.local_name).where(ElementAlias.element_id == element_id)))


def to_read(*, session: Session, alias: ElementAlias) -> AliasRead:
    """The API view of an alias."""
    element = session.get(DataElement, alias.element_id)
    assert element is not None
    return AliasRead.model_validate(alias.model_dump() | {"element": element.code})

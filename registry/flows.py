"""Work that spans registry domains: registering an element under the one-source rule."""

from collections import defaultdict

from sqlmodel import Session, col, select

from protocol.errors import Conflict
from registry.actors import ANONYMOUS, Actor, require_steward_or
from registry.aliases.models import ElementAlias
from registry.departments import service as departments
from registry.disputes import service as disputes
from registry.disputes.models import SourceDispute
from registry.elements import service as elements
from registry.elements.models import INACTIVE_STATUSES, DataElement, ElementCreate
from registry.elements.similarity import SIMILARITY_THRESHOLD, best_match


def register(
    *,
    session: Session,
    element_in: ElementCreate,
    actor: Actor = ANONYMOUS,
    threshold: float = SIMILARITY_THRESHOLD,
) -> DataElement | SourceDispute:
    """Register an element, or open a dispute when another department already is (or may be) its source.

    Same code, other source: a claim dispute. Same subject type, another source, names (or aliases) at
    least `threshold` alike: a near-duplicate dispute. Same code, same source: 409, it is already there.
    """
    # A department registers (or claims) elements only as their source; a steward for any department.
    require_steward_or(actor, element_in.source, "register an element with this source")
    claimant = departments.get_by_code_or_raise(session=session, code=element_in.source)
    existing = elements.get_by_code(session=session, code=element_in.code)
    if existing is not None:
        if existing.source_department_id == claimant.id:
            raise Conflict(f"element {element_in.code!r} is already registered by {claimant.code!r}")
        return disputes.open_(
            session=session,
            element=existing,
            claimant=claimant,
            actor=actor,
            kind="claim",
            reason=element_in.reason or "registered an element with the same code",
            proposal=element_in,
        )
    assert claimant.id is not None, "a department read from the database has an id"
    duplicate = near_duplicate(
        session=session, element_in=element_in, source_id=claimant.id, threshold=threshold
    )
    if duplicate is not None:
        other, score, matched = duplicate
        return disputes.open_(
            session=session,
            element=other,
            claimant=claimant,
            actor=actor,
            kind="near_duplicate",
            reason=element_in.reason,
            proposal=element_in,
            score=round(score, 1),
            matched=matched,
        )
    return elements.create(session=session, element_in=element_in, actor=actor)


def near_duplicate(
    *, session: Session, element_in: ElementCreate, source_id: int, threshold: float = SIMILARITY_THRESHOLD
) -> tuple[DataElement, float, str] | None:
    """The most similar active element of another source and the same subject type, if alike enough."""
    candidates = list(
        session.exec(
            select(DataElement).where(
                DataElement.subject_type == element_in.subject_type,
                DataElement.source_department_id != source_id,
                col(DataElement.status).not_in(INACTIVE_STATUSES),
            )
        )
    )
    alias_names: dict[int, list[str]] = defaultdict(list)
    for element_id, name in session.exec(select(ElementAlias.element_id, ElementAlias.local_name)):
        alias_names[element_id].append(name)
    best: tuple[DataElement, float, str] | None = None
    names = [element_in.name_zh, element_in.name_en]
    for other in candidates:
        assert other.id is not None, "an element read from the database has an id"
        match = best_match(names, [other.name_zh, other.name_en, *alias_names[other.id]])
        if match.score >= threshold and (best is None or match.score > best[1]):
            best = (other, match.score, f"{match.name} ~ {match.other_name}")
    return best

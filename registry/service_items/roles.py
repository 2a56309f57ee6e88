"""The shape rules of a service item's subject roles and bundle steps (一件事), checked before any write."""

from protocol.errors import InvalidRequest
from protocol.reasons import Reason
from registry.service_items.models import (
    DEFAULT_ROLE,
    DEFAULT_ROLE_NAME,
    ServiceItemCreate,
    SubjectRoleIn,
)


def default_subjects(natural: str | None) -> list[SubjectRoleIn]:
    """The one role of an item that names none: the applicant, of the item's natural subject type."""
    subject_type = "enterprise" if natural == "enterprise" else "person"
    return [SubjectRoleIn(role=DEFAULT_ROLE, subject_type=subject_type, name=DEFAULT_ROLE_NAME)]


def validate_bundle(item_in: ServiceItemCreate) -> None:
    """Refuse an item whose materials, roles or steps do not fit together (each with its reason code)."""
    names = [m.name for m in item_in.materials]
    if len(set(names)) != len(names):
        raise InvalidRequest("material names must be unique within a service item")
    roles = [r.role for r in item_in.subjects]
    if len(set(roles)) != len(roles):
        raise InvalidRequest("subject roles must be unique within a service item")
    known_roles = set(roles) or {DEFAULT_ROLE}
    for material in item_in.materials:
        if material.subject_role is not None and material.subject_role not in known_roles:
            raise InvalidRequest(
                f"material {material.name!r} names subject role {material.subject_role[:32]!r}, "
                f"which the item does not have ({', '.join(sorted(known_roles))})",
                reason=Reason.UNKNOWN_SUBJECT_ROLE,
            )
    codes = [s.code for s in item_in.steps]
    if len(set(codes)) != len(codes):
        raise InvalidRequest("step codes must be unique within a service item")
    # A step's department must be able to query for the item at all (the handler or a participant):
    # otherwise the step would name a department the purpose check refuses (DESIGN.md §4, §6).
    taking_part = {item_in.handling_department, *item_in.participants}
    in_step: dict[str, str] = {}
    for step in item_in.steps:
        if step.department not in taking_part:
            raise InvalidRequest(
                f"step {step.code!r}: department {step.department[:32]!r} neither handles nor takes "
                "part in the item (add it to `participants`)",
                reason=Reason.STEP_NOT_PARTICIPANT,
            )
        for name in step.materials:
            if name not in names:
                raise InvalidRequest(
                    f"step {step.code!r} names material {name[:200]!r}, which the item does not have",
                    reason=Reason.UNKNOWN_MATERIAL,
                )
            if name in in_step:
                # Each material is read by one step's department only (minimum necessary, DESIGN.md §2.2).
                raise InvalidRequest(
                    f"material {name[:200]!r} is in steps {in_step[name]!r} and {step.code!r}: "
                    "a material belongs to one step at most",
                    reason=Reason.MATERIAL_IN_TWO_STEPS,
                )
            in_step[name] = step.code

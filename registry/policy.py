"""The one release rule: may an element go to a department for a service item, and if not, why.

Pure: no database, no web framework. The query path (exchange/authz), the agreement request check
and the coverage report (减材料) all decide through this module, so they cannot disagree.
Checks run in the order of DESIGN.md §6; the first failing one is the reason.
"""

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from protocol.clock import as_utc
from protocol.reasons import Reason
from registry.catalogue import AgreementView, Catalogue, ItemView, MaterialView
from registry.elements.models import INACTIVE_STATUSES

# Registration statuses whose metadata is agreed (ISO/IEC 11179 in spirit, DESIGN.md §4).
USABLE_STATUSES = frozenset({"recorded", "qualified", "standard"})
# The reasons an approved, currently valid agreement would remove.
AGREEMENT_REASONS = frozenset({Reason.NO_AGREEMENT, Reason.AGREEMENT_EXPIRED})


class SharingRule(StrEnum):
    """What a sharing type demands before an element is released."""

    OPEN = "open"  # 无条件共享
    NEEDS_AGREEMENT = "needs_agreement"  # 有条件共享: an approved agreement, valid now
    CLOSED = "closed"  # 不予共享: no agreement can unlock it


class Outcome(StrEnum):
    """The structured result of the rule for one element, as the coverage report counts it."""

    RELEASED = "released"
    NEEDS_AGREEMENT = "needs_agreement"
    NOT_USABLE = "not_usable"


def sharing_rule(sharing_type: str) -> SharingRule:
    """The rule a sharing type stands for (以共享为原则、不共享为例外, DESIGN.md §2.3)."""
    if sharing_type == "unconditional":
        return SharingRule.OPEN
    if sharing_type == "conditional":
        return SharingRule.NEEDS_AGREEMENT
    # Fail closed (DESIGN.md §2.4): a sharing type the rule does not know is not shared.
    return SharingRule.CLOSED


def status_reason(status: str) -> Reason | None:
    """The registration-status check: None for an element whose metadata may be served."""
    if status in USABLE_STATUSES:
        return None
    if status in INACTIVE_STATUSES:
        return Reason.RETIRED_ELEMENT
    # A candidate is not yet agreed metadata (its definition, source or sharing type may still
    # change), so nothing is served, asked for or counted against it; any status the rule does not
    # know is treated the same way (fail closed, DESIGN.md §2.4).
    return Reason.CANDIDATE_ELEMENT


def purpose_reason(
    needed: Collection[str] | None,
    element_code: str,
    *,
    consumer: str | None = None,
    users: Collection[str] | None = None,
) -> Reason | None:
    """The purpose checks, given the elements the service item needs (None: no such item).

    With a `consumer`, the item must also be one it handles or takes part in (`users`: the handler and
    the participants; None: nobody), checked before the element: a purpose binds the department too.
    """
    if needed is None:
        return Reason.UNKNOWN_PURPOSE
    if consumer is not None and (users is None or consumer not in users):
        # Purpose binds the department (DESIGN.md §6, issue 9): a department cannot borrow another's
        # service item to read what that item needs.
        return Reason.NOT_NECESSARY_FOR_PURPOSE
    if element_code not in needed:
        # Minimum necessary, purpose bound (DESIGN.md §2.2).
        return Reason.NOT_NECESSARY_FOR_PURPOSE
    return None


def may_read_material(item: ItemView, material: MaterialView, consumer: str, users: Collection[str]) -> bool:
    """Whether `consumer` may read (query or prefill) the elements of this material of the item.

    `users` are the item's handler and participants. Outside a bundle, each of them reads every
    material. In a bundle (一件事) a department reads only the materials of the steps it handles, and
    the handler also the materials in no step (its intake): each participating department receives
    only what its own step needs (issue 12, minimum necessary: DESIGN.md §2.2 and §4).
    """
    if consumer not in users:
        return False
    if not item.bundle:
        return True
    if material.step is None:
        return consumer == item.handler
    return consumer == material.step_department


def material_reader(item: ItemView, material: MaterialView) -> str:
    """The department that reads a material for the item: its step's department in a bundle, else the
    handler (the coverage report asks as this department)."""
    if item.bundle and material.step_department is not None:
        return material.step_department
    return item.handler


def needed_elements(catalogue: Catalogue, service_item: str, consumer: str | None) -> frozenset[str] | None:
    """The elements the item needs that `consumer` may read for it (None: no such item).

    Without a consumer (the agreement check asks about the item as a whole), every element it needs.
    """
    needed = catalogue.item_elements.get(service_item)
    item = catalogue.items.get(service_item)
    if needed is None or consumer is None or item is None or not item.bundle:
        return needed
    users = catalogue.item_departments.get(service_item, frozenset())
    return frozenset(
        code for m in item.materials if may_read_material(item, m, consumer, users) for code in m.elements
    )


def agreement_reason(agreements: Iterable[AgreementView], *, now: datetime) -> Reason | None:
    """None when an approved agreement is valid at `now` (valid_from inclusive, valid_until exclusive)."""
    views = list(agreements)
    approved = [a for a in views if a.status == "approved"]
    if any(as_utc(a.valid_from) <= now < as_utc(a.valid_until) for a in approved):
        return None
    lapsed = any(as_utc(a.valid_until) <= now for a in approved)
    if lapsed or any(a.status == "expired" for a in views):
        return Reason.AGREEMENT_EXPIRED
    return Reason.NO_AGREEMENT


def release_reason(
    catalogue: Catalogue,
    *,
    consumer: str,
    element_code: str,
    service_item: str,
    subject_type: str | None,
    now: datetime,
) -> Reason | None:
    """None when the element may be released; else the reason of the first failing check.

    `subject_type` None skips the subject check (the coverage report asks about no subject).
    """
    element = catalogue.elements.get(element_code)
    if element is None:
        return Reason.UNKNOWN_ELEMENT
    reason = status_reason(element.status) or purpose_reason(
        needed_elements(catalogue, service_item, consumer),
        element_code,
        consumer=consumer,
        users=catalogue.item_departments.get(service_item),
    )
    if reason is not None:
        return reason
    if subject_type is not None and element.subject_type != subject_type:
        # An enterprise element cannot describe a person: the request itself is wrong (DESIGN.md §6).
        return Reason.INVALID_REQUEST
    rule = sharing_rule(element.sharing_type)
    if rule is SharingRule.CLOSED:
        return Reason.NOT_SHARED
    if rule is SharingRule.NEEDS_AGREEMENT:
        return agreement_reason(catalogue.agreements.get((consumer, element_code, service_item), ()), now=now)
    return None


def consent_required(catalogue: Catalogue, element_code: str) -> bool:
    """Whether the element is released only with the subject's separate consent (单独同意,
    个人信息保护法 第二十九条: sensitive personal information); checked after every other rule allowed it."""
    element = catalogue.elements.get(element_code)
    return element is not None and element.consent_required


def outcome_of(reason: Reason | None) -> Outcome:
    """Released, missing only an agreement, or not usable: read from the reason code, never from text."""
    if reason is None:
        return Outcome.RELEASED
    if reason in AGREEMENT_REASONS:
        return Outcome.NEEDS_AGREEMENT
    return Outcome.NOT_USABLE


# --- events (双告知 / 审管互动): who may publish an event type, and who receives each event -------------


def publish_reason(catalogue: Catalogue, *, publisher: str, event_type: str) -> Reason | None:
    """None when `publisher` may publish `event_type`: a registered, active type it is the source of."""
    view = catalogue.event_types.get(event_type)
    if view is None or view.status != "active":
        return Reason.UNKNOWN_EVENT_TYPE
    if view.source != publisher:
        # One source per event type (一数一源, DESIGN.md §2.1): nobody else speaks for it.
        return Reason.NOT_EVENT_SOURCE
    return None


def condition_holds(condition: Mapping[str, Any], routing: Mapping[str, Any]) -> bool:
    """One subscription condition against an event's routing metadata (fail closed: a field that is
    missing, a value of another type or an operator this rule does not know never holds)."""
    if condition.get("field") not in routing:
        return False
    actual, op, wanted = routing[condition["field"]], condition.get("op"), condition.get("value")
    if op == "equals":
        return type(actual) is type(wanted) and actual == wanted
    if op == "in":
        return isinstance(wanted, list) and isinstance(actual, str) and actual in wanted
    if op == "contains":
        if isinstance(actual, str) and isinstance(wanted, str):
            return wanted in actual
        return isinstance(actual, list) and wanted in actual
    return False


def event_recipients(
    catalogue: Catalogue, *, publisher: str, event_type: str, routing: Mapping[str, Any]
) -> list[str]:
    """The departments that receive this event: every active subscriber to the type from its source
    whose conditions all hold; sorted, each once (it gets its own copy, encrypted to it)."""
    recipients = {
        s.subscriber
        for s in catalogue.subscriptions
        if s.source == publisher
        and event_type in s.event_types
        and catalogue.departments.get(s.subscriber) == "active"
        and all(condition_holds(c, routing) for c in s.conditions)
    }
    return sorted(recipients)

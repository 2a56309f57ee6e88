"""The authorisation engine on its own (no FastAPI, no database): DESIGN.md §6, first failing check wins."""

from datetime import UTC, datetime, timedelta

import pytest

from exchange.authz.engine import Decision, client_reason, decide
from protocol.reasons import Reason
from registry.catalogue import AgreementView, Catalogue, ElementView

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ITEM = "ITEM-001"
OTHER_ITEM = "ITEM-002"


def element(
    code: str,
    *,
    source: str = "psb",
    subject_type: str = "person",
    sharing: str = "unconditional",
    status: str = "standard",
) -> ElementView:
    """An element view with sensible defaults."""
    return ElementView(code, source, subject_type, sharing, status)


def agreement(status: str = "approved", *, start: timedelta, end: timedelta) -> AgreementView:
    """An agreement whose window is given relative to NOW."""
    return AgreementView(status, NOW + start, NOW + end)


CURRENT = agreement(start=-timedelta(days=1), end=timedelta(days=1))
LAPSED = agreement(start=-timedelta(days=10), end=-timedelta(days=1))


def catalogue(
    *elements: ElementView,
    needed: dict[str, set[str]] | None = None,
    agreements: dict[tuple[str, str, str], tuple[AgreementView, ...]] | None = None,
    departments: dict[str, str] | None = None,
    users: frozenset[str] = frozenset({"zjj"}),
) -> Catalogue:
    """A hand-built catalogue; by default ITEM needs every element given; zjj may use every item."""
    needs = needed or {ITEM: {e.code for e in elements}}
    return Catalogue(
        departments=departments if departments is not None else {"psb": "active", "zjj": "active"},
        elements={e.code: e for e in elements},
        item_elements={k: frozenset(v) for k, v in needs.items()},
        item_departments=dict.fromkeys(needs, users),
        agreements=agreements or {},
    )


def run(
    cat: Catalogue, code: str, *, consumer: str = "zjj", item: str = ITEM, subject: str = "person"
) -> Decision:
    """Decide one element at NOW."""
    return decide(cat, consumer=consumer, element_code=code, service_item=item, subject_type=subject, now=NOW)


# --- each check on its own ---------------------------------------------------------------------------


def test_an_unconditional_needed_element_is_allowed_and_routed_to_its_source() -> None:
    decision = run(catalogue(element("person.name", source="psb")), "person.name")
    assert decision == Decision("person.name", True, None, "psb")
    assert decision.label == "allow"


def test_unknown_element_has_no_source() -> None:
    decision = run(catalogue(element("person.name")), "person.nope")
    assert decision == Decision("person.nope", False, Reason.UNKNOWN_ELEMENT, None)
    assert decision.label == "deny"


@pytest.mark.parametrize("status", ["retired", "superseded"])
def test_inactive_elements_are_retired(status: str) -> None:
    decision = run(catalogue(element("person.name", status=status)), "person.name")
    assert decision == Decision("person.name", False, Reason.RETIRED_ELEMENT, "psb")


@pytest.mark.parametrize("status", ["recorded", "qualified", "standard"])
def test_active_registration_statuses_are_not_retired(status: str) -> None:
    assert run(catalogue(element("person.name", status=status)), "person.name").allowed


def test_a_candidate_is_not_served() -> None:
    # A candidate is not yet agreed metadata (registry/policy.py): denied where retired ones are.
    decision = run(catalogue(element("person.name", status="candidate")), "person.name")
    assert decision == Decision("person.name", False, Reason.CANDIDATE_ELEMENT, "psb")


def test_unknown_purpose() -> None:
    decision = run(catalogue(element("person.name")), "person.name", item="NO-SUCH-ITEM")
    assert decision == Decision("person.name", False, Reason.UNKNOWN_PURPOSE, "psb")


def test_an_item_the_consumer_neither_handles_nor_takes_part_in_is_not_necessary() -> None:
    cat = catalogue(element("person.name"), users=frozenset({"xzsp"}))
    assert run(cat, "person.name") == Decision("person.name", False, Reason.NOT_NECESSARY_FOR_PURPOSE, "psb")
    assert run(cat, "person.name", consumer="xzsp").allowed


def test_not_necessary_for_purpose() -> None:
    cat = catalogue(element("person.name"), element("person.gender"), needed={ITEM: {"person.name"}})
    assert run(cat, "person.gender").reason == Reason.NOT_NECESSARY_FOR_PURPOSE


def test_a_service_item_that_needs_nothing_is_known_but_needs_nothing() -> None:
    cat = catalogue(element("person.name"), needed={ITEM: set()})
    assert run(cat, "person.name").reason == Reason.NOT_NECESSARY_FOR_PURPOSE


def test_an_element_of_another_subject_type_is_invalid_request() -> None:
    cat = catalogue(element("enterprise.name", source="amr", subject_type="enterprise"))
    decision = run(cat, "enterprise.name", subject="person")
    assert decision == Decision("enterprise.name", False, Reason.INVALID_REQUEST, "amr")


def test_not_shared() -> None:
    decision = run(
        catalogue(element("person.criminal_record", sharing="not_shared")), "person.criminal_record"
    )
    assert decision == Decision("person.criminal_record", False, Reason.NOT_SHARED, "psb")


# --- conditional elements and agreements -------------------------------------------------------------

COND = "person.si_months_paid"


def _conditional(*views: AgreementView, consumer: str = "zjj", item: str = ITEM) -> Catalogue:
    agreements = {(consumer, COND, item): views} if views else {}
    return catalogue(
        element(COND, source="hrss", sharing="conditional"),
        needed={ITEM: {COND}, OTHER_ITEM: {COND}},
        agreements=agreements,
    )


def test_conditional_without_any_agreement_is_no_agreement() -> None:
    assert run(_conditional(), COND) == Decision(COND, False, Reason.NO_AGREEMENT, "hrss")


def test_conditional_with_a_current_approved_agreement_is_allowed() -> None:
    assert run(_conditional(CURRENT), COND) == Decision(COND, True, None, "hrss")


@pytest.mark.parametrize("status", ["requested", "rejected", "revoked"])
def test_an_agreement_that_is_not_approved_is_no_agreement(status: str) -> None:
    view = agreement(status, start=-timedelta(days=1), end=timedelta(days=1))
    assert run(_conditional(view), COND).reason == Reason.NO_AGREEMENT


def test_a_lapsed_approved_agreement_is_agreement_expired() -> None:
    assert run(_conditional(LAPSED), COND).reason == Reason.AGREEMENT_EXPIRED


def test_an_agreement_marked_expired_is_agreement_expired() -> None:
    view = agreement("expired", start=-timedelta(days=1), end=timedelta(days=1))
    assert run(_conditional(view), COND).reason == Reason.AGREEMENT_EXPIRED


def test_an_approved_agreement_that_has_not_started_is_no_agreement() -> None:
    view = agreement(start=timedelta(hours=1), end=timedelta(days=1))
    assert run(_conditional(view), COND).reason == Reason.NO_AGREEMENT


def test_the_validity_window_is_half_open() -> None:
    starts_now = agreement(start=timedelta(0), end=timedelta(days=1))
    ends_now = agreement(start=-timedelta(days=1), end=timedelta(0))
    assert run(_conditional(starts_now), COND).allowed
    assert run(_conditional(ends_now), COND).reason == Reason.AGREEMENT_EXPIRED


def test_a_current_agreement_wins_over_a_lapsed_one() -> None:
    assert run(_conditional(LAPSED, CURRENT), COND).allowed


def test_naive_times_from_sqlite_are_read_as_utc() -> None:
    # 11:00 UTC to 13:00 UTC, stored without an offset: NOW (12:00 UTC) is inside.
    naive = AgreementView("approved", datetime(2026, 6, 1, 11, 0), datetime(2026, 6, 1, 13, 0))
    assert run(_conditional(naive), COND).allowed
    lapsed = AgreementView("approved", datetime(2026, 6, 1, 10, 0), datetime(2026, 6, 1, 11, 59))
    assert run(_conditional(lapsed), COND).reason == Reason.AGREEMENT_EXPIRED


def test_an_agreement_is_bound_to_its_consumer_and_service_item() -> None:
    assert run(_conditional(CURRENT, consumer="other"), COND).reason == Reason.NO_AGREEMENT
    assert run(_conditional(CURRENT, item=OTHER_ITEM), COND).reason == Reason.NO_AGREEMENT
    assert run(_conditional(CURRENT, item=OTHER_ITEM), COND, item=OTHER_ITEM).allowed


def test_the_clock_defaults_to_now() -> None:
    now = datetime.now(UTC)
    current = AgreementView("approved", now - timedelta(minutes=5), now + timedelta(minutes=5))
    cat = _conditional(current)
    decision = decide(cat, consumer="zjj", element_code=COND, service_item=ITEM, subject_type="person")
    assert decision.allowed


# --- the order of checks ---------------------------------------------------------------------------


def test_unknown_element_comes_before_unknown_purpose() -> None:
    assert run(catalogue(), "person.nope", item="NO-SUCH-ITEM").reason == Reason.UNKNOWN_ELEMENT


@pytest.mark.parametrize(
    "case",
    ["unknown purpose", "not necessary", "not shared", "conditional without agreement"],
)
def test_retired_comes_before_every_later_check(case: str) -> None:
    sharing = {"not shared": "not_shared", "conditional without agreement": "conditional"}.get(
        case, "unconditional"
    )
    retired = element("person.x", status="retired", sharing=sharing)
    needed = {ITEM: set()} if case == "not necessary" else {ITEM: {"person.x"}}
    item = "NO-SUCH-ITEM" if case == "unknown purpose" else ITEM
    assert run(catalogue(retired, needed=needed), "person.x", item=item).reason == Reason.RETIRED_ELEMENT


@pytest.mark.parametrize("sharing", ["not_shared", "conditional"])
def test_unknown_purpose_comes_before_sharing_rules(sharing: str) -> None:
    cat = catalogue(element("person.x", sharing=sharing))
    assert run(cat, "person.x", item="NO-SUCH-ITEM").reason == Reason.UNKNOWN_PURPOSE


@pytest.mark.parametrize("sharing", ["not_shared", "conditional"])
def test_not_necessary_comes_before_sharing_rules(sharing: str) -> None:
    cat = catalogue(element("person.x", sharing=sharing), needed={ITEM: set()})
    assert run(cat, "person.x").reason == Reason.NOT_NECESSARY_FOR_PURPOSE


@pytest.mark.parametrize("sharing", ["not_shared", "conditional"])
def test_a_wrong_subject_type_comes_before_sharing_rules(sharing: str) -> None:
    cat = catalogue(element("enterprise.x", subject_type="enterprise", sharing=sharing))
    assert run(cat, "enterprise.x", subject="person").reason == Reason.INVALID_REQUEST


def test_not_shared_is_never_unlocked_by_an_agreement() -> None:
    cat = catalogue(
        element("person.criminal_record", sharing="not_shared"),
        agreements={("zjj", "person.criminal_record", ITEM): (CURRENT,)},
    )
    assert run(cat, "person.criminal_record").reason == Reason.NOT_SHARED


def test_an_expired_agreement_only_matters_for_a_conditional_element() -> None:
    cat = catalogue(element("person.name"), agreements={("zjj", "person.name", ITEM): (LAPSED,)})
    assert run(cat, "person.name").allowed


def test_the_reason_enum_lists_the_design_order() -> None:
    assert [r.value for r in Reason][:16] == [
        "invalid_request",
        "invalid_subject_id",
        "unauthenticated",
        "client_disabled",
        "unknown_element",
        "retired_element",
        "unknown_purpose",
        "not_necessary_for_purpose",
        "not_shared",
        "no_agreement",
        "agreement_expired",
        "rate_limited",
        "source_unavailable",
        "source_timeout",
        "not_found",
        "audit_unavailable",
    ]


# --- the request-level client check ------------------------------------------------------------------


def test_client_reason() -> None:
    cat = catalogue(departments={"zjj": "active", "old": "disabled", "odd": "suspended"})
    assert client_reason(cat, "zjj") is None
    assert client_reason(cat, "nosuch") == Reason.UNAUTHENTICATED
    assert client_reason(cat, "old") == Reason.CLIENT_DISABLED
    # Fail closed: any status other than active is refused.
    assert client_reason(cat, "odd") == Reason.CLIENT_DISABLED
    assert client_reason(cat, "") == Reason.UNAUTHENTICATED

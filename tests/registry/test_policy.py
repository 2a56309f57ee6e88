"""The one release rule (registry/policy.py): every reason code, the order of checks, and its callers.

The pure part needs no database; the last tests check on a seeded registry that the coverage report,
the gateway's engine and the agreement request check decide as the policy does.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from exchange.authz.engine import Decision, decide
from protocol.errors import InvalidRequest
from protocol.reasons import Reason
from registry import policy
from registry.actors import Actor
from registry.agreements import service as agreements
from registry.agreements.models import AgreementCreate, SharingAgreement
from registry.catalogue import AgreementView, Catalogue, ElementView, read_catalogue
from registry.coverage.service import coverage_report
from registry.db import unit_of_work
from registry.elements.models import DataElement
from registry.policy import Outcome, SharingRule
from shuyuan.sample_catalogue import HOUSING_ITEM

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CODE, ITEM, CONSUMER = "person.x", "ITEM-001", "zjj"
CURRENT = AgreementView("approved", NOW - timedelta(days=1), NOW + timedelta(days=1))
LAPSED = AgreementView("approved", NOW - timedelta(days=10), NOW - timedelta(days=1))


@dataclass(frozen=True)
class Case:
    """One question to the rule; the defaults are a conditional element that is released."""

    asked: str = CODE
    status: str = "standard"
    sharing: str = "conditional"
    subject: str = "person"
    item: str = ITEM
    needed: frozenset[str] = frozenset({CODE})
    users: frozenset[str] = frozenset({CONSUMER})  # the item's handler and participants
    agreements: tuple[AgreementView, ...] = (CURRENT,)

    def catalogue(self) -> Catalogue:
        """The catalogue this case describes."""
        return Catalogue(
            departments={CONSUMER: "active", "psb": "active"},
            elements={CODE: ElementView(CODE, "psb", "person", self.sharing, self.status)},
            item_elements={ITEM: self.needed},
            item_departments={ITEM: self.users},
            agreements={(CONSUMER, CODE, ITEM): self.agreements} if self.agreements else {},
        )

    def reason(self) -> Reason | None:
        """The policy's answer at NOW."""
        return policy.release_reason(
            self.catalogue(),
            consumer=CONSUMER,
            element_code=self.asked,
            service_item=self.item,
            subject_type=self.subject,
            now=NOW,
        )


# One way to fail each check, in the order of DESIGN.md §6.
FAULTS: list[tuple[Reason, dict[str, Any]]] = [
    (Reason.UNKNOWN_ELEMENT, {"asked": "person.nope"}),
    (Reason.RETIRED_ELEMENT, {"status": "retired"}),
    (Reason.CANDIDATE_ELEMENT, {"status": "candidate"}),
    (Reason.UNKNOWN_PURPOSE, {"item": "NO-SUCH-ITEM"}),
    # The consumer neither handles nor takes part in the item (DESIGN.md §6: purpose binds the department).
    (Reason.NOT_NECESSARY_FOR_PURPOSE, {"users": frozenset({"xzsp"})}),
    (Reason.NOT_NECESSARY_FOR_PURPOSE, {"needed": frozenset()}),
    (Reason.INVALID_REQUEST, {"subject": "enterprise"}),
    (Reason.NOT_SHARED, {"sharing": "not_shared"}),
    (Reason.NO_AGREEMENT, {"agreements": ()}),
    (Reason.AGREEMENT_EXPIRED, {"agreements": (LAPSED,)}),
]
# Two faults that set the same field cannot be combined (retired vs candidate, the two agreement ones).
PAIRS = [(a, b) for a, b in combinations(FAULTS, 2) if not set(a[1]) & set(b[1])]


def test_the_default_case_is_released() -> None:
    assert Case().reason() is None


FAULT_IDS = [f"{r.value}:{'-'.join(f)}" for r, f in FAULTS]


@pytest.mark.parametrize(("reason", "fault"), FAULTS, ids=FAULT_IDS)
def test_each_check_on_its_own(reason: Reason, fault: dict[str, Any]) -> None:
    assert replace(Case(), **fault).reason() == reason


@pytest.mark.parametrize(("first", "later"), PAIRS, ids=[f"{a[0]}-before-{b[0]}" for a, b in PAIRS])
def test_the_first_failing_check_wins(
    first: tuple[Reason, dict[str, Any]], later: tuple[Reason, dict[str, Any]]
) -> None:
    assert replace(Case(), **first[1], **later[1]).reason() == first[0]


def test_every_check_failing_at_once_is_unknown_element_and_peeling_keeps_the_order() -> None:
    faults = dict(FAULTS)
    order = [r for r in faults if r not in (Reason.CANDIDATE_ELEMENT, Reason.AGREEMENT_EXPIRED)]
    for i, expected in enumerate(order):
        case = Case()
        for reason in order[i:]:
            case = replace(case, **faults[reason])
        assert case.reason() == expected


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("candidate", Reason.CANDIDATE_ELEMENT),
        ("recorded", None),
        ("qualified", None),
        ("standard", None),
        ("superseded", Reason.RETIRED_ELEMENT),
        ("retired", Reason.RETIRED_ELEMENT),
        ("unheard_of", Reason.CANDIDATE_ELEMENT),  # fail closed
    ],
)
def test_registration_status(status: str, reason: Reason | None) -> None:
    assert policy.status_reason(status) == reason
    assert replace(Case(), status=status).reason() == reason


def test_a_candidate_is_not_served_even_with_a_current_agreement_or_unconditionally() -> None:
    assert replace(Case(), status="candidate").reason() == Reason.CANDIDATE_ELEMENT
    open_candidate = replace(Case(), status="candidate", sharing="unconditional", agreements=())
    assert open_candidate.reason() == Reason.CANDIDATE_ELEMENT


@pytest.mark.parametrize(
    ("sharing", "rule"),
    [
        ("unconditional", SharingRule.OPEN),
        ("conditional", SharingRule.NEEDS_AGREEMENT),
        ("not_shared", SharingRule.CLOSED),
        ("something_else", SharingRule.CLOSED),  # fail closed
    ],
)
def test_what_a_sharing_type_demands(sharing: str, rule: SharingRule) -> None:
    assert policy.sharing_rule(sharing) is rule


def test_sharing_rules_and_agreements() -> None:
    assert replace(Case(), sharing="unconditional", agreements=()).reason() is None
    # An unconditional element ignores agreements, even lapsed ones; not-shared is never unlocked.
    assert replace(Case(), sharing="unconditional", agreements=(LAPSED,)).reason() is None
    assert replace(Case(), sharing="not_shared", agreements=(CURRENT,)).reason() == Reason.NOT_SHARED
    assert replace(Case(), sharing="something_else").reason() == Reason.NOT_SHARED


def test_purpose_checks() -> None:
    assert policy.purpose_reason(None, CODE) == Reason.UNKNOWN_PURPOSE
    assert policy.purpose_reason(frozenset(), CODE) == Reason.NOT_NECESSARY_FOR_PURPOSE
    assert policy.purpose_reason({"person.y"}, CODE) == Reason.NOT_NECESSARY_FOR_PURPOSE
    assert policy.purpose_reason({CODE}, CODE) is None


def test_purpose_binds_the_department() -> None:
    # The handler and the participants may use the item; anyone else is refused before the element.
    assert policy.purpose_reason({CODE}, CODE, consumer="zjj", users={"zjj", "hrss"}) is None
    assert policy.purpose_reason({CODE}, CODE, consumer="hrss", users={"zjj", "hrss"}) is None
    refused = policy.purpose_reason({CODE}, CODE, consumer="xzsp", users={"zjj", "hrss"})
    assert refused == Reason.NOT_NECESSARY_FOR_PURPOSE
    # An item whose departments the catalogue does not know is nobody's (fail closed, DESIGN.md §2.4).
    assert policy.purpose_reason({CODE}, CODE, consumer="zjj", users=None) == Reason.NOT_NECESSARY_FOR_PURPOSE
    # An unknown item is still unknown_purpose, whoever asks; no consumer: only the element is checked
    # (the agreement request check, registry/agreements/service.py).
    assert policy.purpose_reason(None, CODE, consumer="xzsp", users=None) == Reason.UNKNOWN_PURPOSE
    assert policy.purpose_reason({CODE}, CODE) is None


def test_a_participant_is_released_what_the_item_needs_and_nothing_else() -> None:
    participant = replace(Case(), users=frozenset({"xzsp", CONSUMER}), sharing="unconditional", agreements=())
    assert participant.reason() is None
    assert replace(participant, needed=frozenset({"person.y"})).reason() == Reason.NOT_NECESSARY_FOR_PURPOSE
    outsider = replace(participant, users=frozenset({"xzsp"}))
    assert outsider.reason() == Reason.NOT_NECESSARY_FOR_PURPOSE
    # A retired element is retired before the department is looked at (DESIGN.md §6 order).
    assert replace(outsider, status="retired").reason() == Reason.RETIRED_ELEMENT


def test_the_catalogue_knows_who_may_use_each_sample_item(registry_engine: Engine) -> None:
    with Session(registry_engine) as session:
        cat = read_catalogue(session=session)
    from shuyuan.sample_catalogue import SERVICE_ITEMS

    assert cat.item_departments == {
        i["code"]: frozenset({i["handling_department"], *i["participants"]}) for i in SERVICE_ITEMS
    }


def test_no_subject_skips_the_subject_check() -> None:
    cat = replace(Case(), sharing="unconditional").catalogue()
    args = {"consumer": CONSUMER, "element_code": CODE, "service_item": ITEM, "now": NOW}
    assert policy.release_reason(cat, subject_type=None, **args) is None
    assert policy.release_reason(cat, subject_type="enterprise", **args) == Reason.INVALID_REQUEST


def _window(status: str, start: timedelta, end: timedelta) -> AgreementView:
    return AgreementView(status, NOW + start, NOW + end)


DAY, HOUR, TICK = timedelta(days=1), timedelta(hours=1), timedelta(microseconds=1)
NAIVE_11 = datetime(2026, 6, 1, 11, 0)


@pytest.mark.parametrize(
    ("views", "reason"),
    [
        ((), Reason.NO_AGREEMENT),
        ((_window("approved", timedelta(0), DAY),), None),  # valid_from is inclusive
        ((_window("approved", TICK, DAY),), Reason.NO_AGREEMENT),  # not started yet
        ((_window("approved", -DAY, TICK),), None),  # the last instant of the window
        ((_window("approved", -DAY, timedelta(0)),), Reason.AGREEMENT_EXPIRED),  # valid_until exclusive
        ((_window("expired", -DAY, DAY),), Reason.AGREEMENT_EXPIRED),  # marked expired
        ((_window("requested", -DAY, DAY),), Reason.NO_AGREEMENT),
        ((_window("rejected", -DAY, DAY),), Reason.NO_AGREEMENT),
        ((_window("revoked", -DAY, DAY),), Reason.NO_AGREEMENT),
        ((_window("revoked", -DAY, DAY), LAPSED), Reason.AGREEMENT_EXPIRED),
        ((LAPSED, CURRENT), None),  # a current agreement wins over a lapsed one
        # SQLite hands back naive times: read as UTC (11:00 to 13:00 contains 12:00 UTC).
        ((AgreementView("approved", datetime(2026, 6, 1, 11), datetime(2026, 6, 1, 13)),), None),
        (
            (AgreementView("approved", datetime(2026, 6, 1, 11), datetime(2026, 6, 1, 12)),),
            Reason.AGREEMENT_EXPIRED,
        ),
    ],
)
def test_agreement_validity_window(views: tuple[AgreementView, ...], reason: Reason | None) -> None:
    assert policy.agreement_reason(views, now=NOW) == reason
    assert replace(Case(), agreements=views).reason() == reason


def test_an_agreement_is_bound_to_its_consumer_and_item() -> None:
    # "other" takes part in the item, so only the agreement (zjj's, not its own) is missing.
    cat = replace(Case(), users=frozenset({CONSUMER, "other"})).catalogue()
    args = {"element_code": CODE, "subject_type": "person", "now": NOW}
    assert policy.release_reason(cat, consumer="other", service_item=ITEM, **args) == Reason.NO_AGREEMENT


@pytest.mark.parametrize("reason", [None, *Reason])
def test_outcome_of_every_reason(reason: Reason | None) -> None:
    expected = {
        None: Outcome.RELEASED,
        Reason.NO_AGREEMENT: Outcome.NEEDS_AGREEMENT,
        Reason.AGREEMENT_EXPIRED: Outcome.NEEDS_AGREEMENT,
    }.get(reason, Outcome.NOT_USABLE)
    assert policy.outcome_of(reason) is expected


ALL_CASES = (
    [Case()] + [replace(Case(), **f) for _, f in FAULTS] + [replace(Case(), **a[1], **b[1]) for a, b in PAIRS]
)


@pytest.mark.parametrize("case", ALL_CASES)
def test_the_engine_decides_as_the_policy(case: Case) -> None:
    reason = case.reason()
    decision = decide(
        case.catalogue(),
        consumer=CONSUMER,
        element_code=case.asked,
        service_item=case.item,
        subject_type=case.subject,
        now=NOW,
    )
    source = None if reason is Reason.UNKNOWN_ELEMENT else "psb"
    assert decision == Decision(case.asked, reason is None, reason, source)


# --- the callers on a seeded registry ------------------------------------------------------------


def _element(session: Session, code: str) -> DataElement:
    return session.exec(select(DataElement).where(DataElement.code == code)).one()


def test_coverage_and_engine_agree_with_the_policy(registry_engine: Engine) -> None:
    now = datetime.now(UTC)
    with unit_of_work(registry_engine) as session:
        _element(session, "person.household_members").status = "candidate"
        _element(session, "person.gender").status = "retired"
        _element(session, "enterprise.status").sharing_type = "not_shared"
        months = _element(session, "person.si_months_paid")
        for agreement in session.exec(
            select(SharingAgreement).where(SharingAgreement.element_id == months.id)
        ):
            agreement.status = "expired"
        session.flush()
        report = coverage_report(session=session, now=now)
        cat = read_catalogue(session=session)
    statuses = {}
    for item in report.items:
        view = cat.items[item.code]
        for material in item.materials:
            outcomes = []
            # A bundle's step material is read (and so covered) by its step's department.
            reader = policy.material_reader(view, next(m for m in view.materials if m.name == material.name))
            for code in material.elements:
                reason = policy.release_reason(
                    cat,
                    consumer=reader,
                    element_code=code,
                    service_item=item.code,
                    subject_type=None,
                    now=now,
                )
                outcomes.append(policy.outcome_of(reason))
                decision = decide(
                    cat,
                    consumer=reader,
                    element_code=code,
                    service_item=item.code,
                    subject_type=cat.elements[code].subject_type,
                    now=now,
                )
                assert (decision.allowed, decision.reason) == (reason is None, reason), (item.code, code)
            expected = (
                "not_covered"
                if Outcome.NOT_USABLE in outcomes or not outcomes
                else "needs_agreement"
                if Outcome.NEEDS_AGREEMENT in outcomes
                else "covered"
            )
            assert material.status == expected, (item.code, material.name)
            statuses[material.name] = (material.status, material.problems)
    assert statuses["户口簿复印件"] == ("not_covered", ["person.household_members is candidate"])
    assert statuses["收入证明"] == ("needs_agreement", ["person.si_months_paid needs an approved agreement"])
    assert statuses["经营者身份证复印件"] == ("not_covered", ["person.gender is retired"])
    assert statuses["营业执照副本"] == ("not_covered", ["enterprise.status is not shared"])
    assert statuses["申请人身份证复印件"] == ("covered", [])


def _request(session: Session, element: str) -> None:
    agreements.request(
        session=session,
        actor=Actor(name="clerk", department="xzsp"),  # a department requests as the consumer
        agreement_in=AgreementCreate(
            consumer="xzsp",
            element=element,
            service_item=HOUSING_ITEM,
            legal_basis="《测试条例》第三条",
            valid_from=datetime.now(UTC),
            valid_until=datetime.now(UTC) + timedelta(days=30),
        ),
    )


@pytest.mark.parametrize(
    ("status", "sharing", "reason"),
    [
        ("candidate", "conditional", Reason.CANDIDATE_ELEMENT),
        ("retired", "conditional", Reason.RETIRED_ELEMENT),
        # The agreement check keeps its order: the sharing type is looked at first.
        ("candidate", "not_shared", Reason.NOT_SHARED),
        ("candidate", "unconditional", Reason.AGREEMENT_NOT_NEEDED),
    ],
)
def test_an_agreement_request_is_checked_by_the_policy(
    registry_engine: Engine, status: str, sharing: str, reason: Reason
) -> None:
    with pytest.raises(InvalidRequest) as refused, unit_of_work(registry_engine) as session:
        element = _element(session, "person.si_contribution_base")
        element.status, element.sharing_type = status, sharing
        session.flush()
        _request(session, "person.si_contribution_base")
    assert refused.value.reason == reason


def test_an_agreement_request_for_an_unneeded_element_is_not_necessary(registry_engine: Engine) -> None:
    with pytest.raises(InvalidRequest) as refused, unit_of_work(registry_engine) as session:
        _element(session, "person.gender").sharing_type = "conditional"
        session.flush()
        _request(session, "person.gender")
    assert refused.value.reason == Reason.NOT_NECESSARY_FOR_PURPOSE


def test_an_agreement_request_for_a_needed_conditional_element_is_accepted(registry_engine: Engine) -> None:
    with unit_of_work(registry_engine) as session:
        _request(session, "person.si_contribution_base")

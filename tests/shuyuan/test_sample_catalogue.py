"""The sample catalogue tells SCENARIOS A, B and C truthfully: every query a scenario makes is released
by the one release rule (registry/policy.py), the same elements for another item are not, and every
element's grade has its recorded reason."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from protocol.clock import utcnow
from protocol.reasons import Reason
from registry.catalogue import Catalogue, load_catalogue
from registry.db import make_engine
from registry.elements.models import DataElement
from registry.policy import release_reason
from shuyuan import sample_catalogue
from shuyuan.app import migrate
from shuyuan.sample_catalogue import (
    AGREEMENTS,
    DEPARTMENTS,
    ELEMENTS,
    HOUSING_ITEM,
    NEWBORN_ITEM,
    SERVICE_ITEMS,
    SOLE_TRADER_ITEM,
)

ITEMS = {item["code"]: item for item in SERVICE_ITEMS}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated SQLite registry with the sample loaded."""
    engine = make_engine(f"sqlite:///{Path(tmp_path_factory.mktemp('sample')) / 'registry.db'}")
    migrate(engine)
    sample_catalogue.seed(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def catalogue(engine: Engine) -> Catalogue:
    """The catalogue snapshot the gateway decides from."""
    return load_catalogue(engine)


def _reasons(catalogue: Catalogue, consumer: str, elements: list[str], item: str) -> dict[str, Reason | None]:
    return {
        code: release_reason(
            catalogue,
            consumer=consumer,
            element_code=code,
            service_item=item,
            subject_type=None,
            now=utcnow(),
        )
        for code in elements
    }


def _needed(item: str) -> list[str]:
    return [code for material in ITEMS[item]["materials"] for code in material["elements"]]


def test_the_scenario_departments_are_in_the_sample() -> None:
    codes = {code for code, _, _ in DEPARTMENTS}
    assert {"bdc", "court", "mzj", "wjw", "ybj"} <= codes


@pytest.mark.parametrize("item", [HOUSING_ITEM, SOLE_TRADER_ITEM])  # a bundle's: per step, below
def test_the_handler_gets_every_element_its_item_needs(catalogue: Catalogue, item: str) -> None:
    handler = ITEMS[item]["handling_department"]
    assert _reasons(catalogue, handler, _needed(item), item) == dict.fromkeys(_needed(item))


def test_scenario_a_premises_and_the_dishonest_debtor_check(catalogue: Catalogue) -> None:
    asked = [
        "person.property_certificate_no",
        "person.property_address",
        "person.property_owner",
        "person.dishonest_debtor",
    ]
    assert _reasons(catalogue, "xzsp", asked, SOLE_TRADER_ITEM) == dict.fromkeys(asked)
    # The same elements for public rental housing, or by the housing bureau: not its purpose.
    for consumer, item in (("xzsp", HOUSING_ITEM), ("zjj", SOLE_TRADER_ITEM)):
        assert set(_reasons(catalogue, consumer, asked, item).values()) == {Reason.NOT_NECESSARY_FOR_PURPOSE}


def test_scenario_c_property_and_marital_status_for_housing_only(catalogue: Catalogue) -> None:
    asked = ["person.property_records", "person.marital_status", "person.si_contribution_base"]
    assert _reasons(catalogue, "zjj", asked, HOUSING_ITEM) == dict.fromkeys(asked)
    assert set(_reasons(catalogue, "zjj", asked, SOLE_TRADER_ITEM).values()) == {
        Reason.NOT_NECESSARY_FOR_PURPOSE
    }
    assert set(_reasons(catalogue, "zjj", asked, NEWBORN_ITEM).values()) == {Reason.NOT_NECESSARY_FOR_PURPOSE}


def test_scenario_b_each_participant_gets_only_what_its_step_needs(catalogue: Catalogue) -> None:
    # Each step's department reads its own step's materials; psb (the handler) also the intake ones.
    item = ITEMS[NEWBORN_ITEM]
    materials = {m["name"]: set(m["elements"]) for m in item["materials"]}
    in_step = {name for st in item["steps"] for name in st["materials"]}
    for dept in ("psb", "wjw", "ybj", "hrss"):
        mine = {name for st in item["steps"] if st["department"] == dept for name in st["materials"]}
        if dept == "psb":
            mine |= set(materials) - in_step
        readable = set().union(*(materials[n] for n in mine))
        reasons = _reasons(catalogue, dept, _needed(NEWBORN_ITEM), NEWBORN_ITEM)
        allowed = {code for code, reason in reasons.items() if reason is None}
        assert allowed == readable, dept
        for code in set(reasons) - readable:  # another step's element: not for this department
            assert reasons[code] == Reason.NOT_NECESSARY_FOR_PURPOSE, (dept, code)
    # The marriage certificate is psb's (户口登记) to see, under the newborn item only.
    assert _reasons(catalogue, "psb", ["person.marital_status"], HOUSING_ITEM) == {
        "person.marital_status": Reason.NOT_NECESSARY_FOR_PURPOSE
    }


def test_every_agreement_is_for_an_element_its_item_needs_and_approved(catalogue: Catalogue) -> None:
    for consumer, element, item, basis in AGREEMENTS:
        assert element in _needed(item) and basis
        assert [a.status for a in catalogue.agreements[(consumer, element, item)]] == ["approved"]


def test_every_element_has_an_explicit_grade_with_its_reason(engine: Engine) -> None:
    with Session(engine) as session:
        stored = {e.code: e for e in session.exec(select(DataElement)).all()}
    for element in ELEMENTS:
        row = stored[element.code]
        assert (row.grade, row.grade_basis) == (element.grade, element.grade_basis)
        assert "数据安全法" in row.grade_basis and "GB/T 43697-2024" in row.grade_basis, element.code
    # SCENARIOS.md and issue 12: marital status is sensitive personal information, the flag restricted.
    assert stored["person.marital_status"].sensitivity == "sensitive_personal"
    assert stored["person.dishonest_debtor"].sensitivity == "restricted"
    assert stored["person.criminal_record"].grade == "important"

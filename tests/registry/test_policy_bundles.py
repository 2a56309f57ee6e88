"""The per-step purpose rule of a bundle (一件事, registry/policy.py): a department reads only the
materials of the steps it handles, the handler also those in no step; plain items keep the old rule."""

from datetime import UTC, datetime

import pytest

from protocol.reasons import Reason
from registry import policy
from registry.catalogue import Catalogue, ElementView, ItemView, MaterialView, RoleView

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ITEM = "YJS-001"
ELEMENTS = ("person.name", "person.si_status", "person.household_members", "person.birth_date")


def _catalogue(*, bundle: bool = True) -> Catalogue:
    materials = (
        MaterialView(
            "身份证", "applicant", ("person.name",), "housing" if bundle else None, "zjj" if bundle else None
        ),
        MaterialView(
            "参保证明",
            "applicant",
            ("person.si_status",),
            "insurance" if bundle else None,
            "hrss" if bundle else None,
        ),
        MaterialView("户口簿", "applicant", ("person.household_members",)),  # intake: no step
        MaterialView(
            "出生证明",
            "applicant",
            ("person.birth_date",),
            "birth" if bundle else None,
            "wjw" if bundle else None,
        ),
    )
    return Catalogue(
        departments=dict.fromkeys(("zjj", "hrss", "wjw", "xzsp", "psb"), "active"),
        elements={c: ElementView(c, "psb", "person", "unconditional", "standard") for c in ELEMENTS},
        item_elements={ITEM: frozenset(ELEMENTS)},
        item_departments={ITEM: frozenset({"zjj", "hrss", "wjw"})},
        items={
            ITEM: ItemView(
                ITEM,
                "zjj",
                (RoleView("applicant", "person"),),
                materials,
                ("housing", "insurance", "birth") if bundle else (),
            )
        },
    )


def _reason(catalogue: Catalogue, consumer: str, code: str) -> Reason | None:
    return policy.release_reason(
        catalogue, consumer=consumer, element_code=code, service_item=ITEM, subject_type="person", now=NOW
    )


@pytest.mark.parametrize(
    ("consumer", "readable"),
    [
        ("zjj", {"person.name", "person.household_members"}),  # its step and the intake
        ("hrss", {"person.si_status"}),  # its step only
        ("wjw", {"person.birth_date"}),
        ("xzsp", set()),  # takes no part at all
    ],
)
def test_each_department_reads_only_its_own_steps_materials(consumer: str, readable: set[str]) -> None:
    catalogue = _catalogue()
    for code in ELEMENTS:
        expected = None if code in readable else Reason.NOT_NECESSARY_FOR_PURPOSE
        assert _reason(catalogue, consumer, code) == expected, (consumer, code)
    assert policy.needed_elements(catalogue, ITEM, consumer) == (readable if consumer != "xzsp" else set())


def test_a_plain_item_keeps_the_rule_every_taking_part_department_reads_everything() -> None:
    catalogue = _catalogue(bundle=False)
    for consumer in ("zjj", "hrss", "wjw"):
        assert all(_reason(catalogue, consumer, code) is None for code in ELEMENTS)
    assert _reason(catalogue, "xzsp", "person.name") == Reason.NOT_NECESSARY_FOR_PURPOSE


def test_without_a_consumer_the_item_needs_all_its_elements_and_an_unknown_item_is_unknown_purpose() -> None:
    catalogue = _catalogue()
    assert policy.needed_elements(catalogue, ITEM, None) == frozenset(ELEMENTS)
    assert policy.needed_elements(catalogue, "NO-SUCH", "zjj") is None
    assert (
        policy.release_reason(
            catalogue,
            consumer="zjj",
            element_code="person.name",
            service_item="NO-SUCH",
            subject_type="person",
            now=NOW,
        )
        == Reason.UNKNOWN_PURPOSE
    )


def test_the_reader_of_a_material_is_its_steps_department_or_the_handler() -> None:
    item = _catalogue().items[ITEM]
    assert [policy.material_reader(item, m) for m in item.materials] == ["zjj", "hrss", "zjj", "wjw"]
    plain = _catalogue(bundle=False).items[ITEM]
    assert {policy.material_reader(plain, m) for m in plain.materials} == {"zjj"}

"""The scenarios' sample registers (bdc, court, mzj, wjw, ybj, hrss cards) read through their connector
YAMLs: each named subject answers as docs/sample-data.md says."""

from __future__ import annotations

import pathlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.adapters.sql import SqlAdapter
from connectors.config import load_config
from connectors.samples.data import SampleSubjects, generate
from protocol.identifiers import is_valid_resident_id, is_valid_uscc
from shuyuan.embedded import sample_connector_configs


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("registers")


@pytest.fixture(scope="module")
def subjects(sample_dir: pathlib.Path) -> SampleSubjects:
    return generate(sample_dir)


@pytest.fixture(scope="module")
def adapters(sample_dir: pathlib.Path, subjects: SampleSubjects) -> Iterator[dict[str, SqlAdapter]]:
    """Each sample source's SQL adapter, configured from its YAML as its connector is."""
    built = {}
    for dept, path in sample_connector_configs().items():
        config = load_config(path, base_dir=sample_dir)
        built[dept] = SqlAdapter(config.database_url, config.elements)
    yield built
    for adapter in built.values():
        adapter.close()


def _answer(adapters: dict[str, SqlAdapter], dept: str, subject: str, code: str) -> tuple[str, Any]:
    [lookup] = adapters[dept].lookup(subject, [code])
    return lookup.status, lookup.value


def _rows(sample_dir: pathlib.Path, dept: str, sql: str, *args: object) -> list[sqlite3.Row]:
    connection = sqlite3.connect(sample_dir / f"{dept}.sqlite")
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def test_the_contested_owner_still_appears_as_owner_of_a_flat_sold_last_year(
    adapters: dict[str, SqlAdapter], subjects: SampleSubjects, sample_dir: pathlib.Path
) -> None:
    status, records = _answer(adapters, "bdc", subjects.contested_owner, "person.property_records")
    assert status == "ok" and len(records) >= 2  # the home and the flat whose sale was not registered
    assert {"certificate_no", "address", "area_m2", "registered_on"} == set(records[0])
    [row] = _rows(
        sample_dir, "psb", "SELECT name FROM hukou_person WHERE resident_id = ?", subjects.contested_owner
    )
    status, owners = _answer(adapters, "bdc", subjects.contested_owner, "person.property_owner")
    assert status == "ok" and row["name"] in owners.split("、")


def test_the_sole_trader_has_premises_and_is_not_a_dishonest_debtor(
    adapters: dict[str, SqlAdapter], subjects: SampleSubjects
) -> None:
    person = subjects.sole_trader
    status, certificate = _answer(adapters, "bdc", person, "person.property_certificate_no")
    assert status == "ok" and "不动产权第" in certificate
    status, address = _answer(adapters, "bdc", person, "person.property_address")
    assert status == "ok" and address.endswith("商铺")  # the shop registered last, the premises of A
    assert _answer(adapters, "court", person, "person.dishonest_debtor") == ("ok", False)


def test_a_person_owning_nothing_registered_has_no_certificate_and_an_empty_record_list(
    adapters: dict[str, SqlAdapter], subjects: SampleSubjects
) -> None:
    for person in (subjects.person_only_in_psb, subjects.unknown_person):
        assert _answer(adapters, "bdc", person, "person.property_records") == ("ok", [])
        assert _answer(adapters, "bdc", person, "person.property_certificate_no") == ("not_found", None)


def test_the_court_list_answers_for_anyone(adapters: dict[str, SqlAdapter], subjects: SampleSubjects) -> None:
    assert _answer(adapters, "court", subjects.dishonest_person, "person.dishonest_debtor") == ("ok", True)
    assert _answer(adapters, "court", subjects.dishonest_enterprise, "enterprise.dishonest_debtor") == (
        "ok",
        True,
    )
    assert _answer(adapters, "court", subjects.demo_enterprise, "enterprise.dishonest_debtor") == (
        "ok",
        False,
    )
    # Not on the list is an answer (false), not "unknown": the list covers everyone.
    assert _answer(adapters, "court", subjects.unknown_person, "person.dishonest_debtor") == ("ok", False)


def test_the_newborns_family(
    adapters: dict[str, SqlAdapter], subjects: SampleSubjects, sample_dir: pathlib.Path
) -> None:
    family = (subjects.newborn_father, subjects.newborn_mother, subjects.newborn)
    rows = _rows(sample_dir, "psb", "SELECT * FROM hukou_person WHERE resident_id IN (?, ?, ?)", *family)
    by_id = {row["resident_id"]: row for row in rows}
    assert len({row["household_no"] for row in rows}) == 1 and len(rows) == 3
    father, mother, child = (by_id[p] for p in family)
    assert (father["relation_to_head"], mother["relation_to_head"], child["relation_to_head"]) == (
        "户主",
        "配偶",
        "子",
    )
    # Married at mzj, to each other.
    assert _answer(adapters, "mzj", subjects.newborn_father, "person.marital_status") == ("ok", "已婚")
    assert _answer(adapters, "mzj", subjects.newborn_father, "person.spouse_name") == ("ok", mother["name"])
    assert _answer(adapters, "mzj", subjects.newborn_mother, "person.spouse_name") == ("ok", father["name"])
    # The birth certificate names both parents.
    status, record = _answer(adapters, "wjw", subjects.newborn, "person.birth_record")
    assert status == "ok"
    assert (record["name"], record["birth_date"], record["gender"]) == (
        child["name"],
        child["birth_date"],
        child["gender"],
    )
    assert (record["mother_name"], record["father_name"]) == (mother["name"], father["name"])
    # Not yet enrolled, no card applied for: what the bundle's steps do.
    assert _answer(adapters, "ybj", subjects.newborn, "person.medical_insurance_status") == ("ok", "未参保")
    assert _answer(adapters, "hrss", subjects.newborn, "person.social_security_card_status") == (
        "ok",
        "未申领",
    )
    assert _answer(adapters, "ybj", subjects.newborn_mother, "person.medical_insurance_status") == (
        "ok",
        "参保",
    )


def test_the_person_only_psb_knows_is_unknown_to_the_other_person_registers(
    adapters: dict[str, SqlAdapter], subjects: SampleSubjects
) -> None:
    person = subjects.person_only_in_psb
    for dept, code in (
        ("mzj", "person.marital_status"),
        ("wjw", "person.birth_record"),
        ("ybj", "person.medical_insurance_status"),
        ("hrss", "person.social_security_card_status"),
        ("bdc", "person.property_certificate_no"),
    ):
        assert _answer(adapters, dept, person, code) == ("not_found", None), dept


def test_marriages_point_both_ways(sample_dir: pathlib.Path) -> None:
    rows = {r["resident_id"]: r for r in _rows(sample_dir, "mzj", "SELECT * FROM marital_record")}
    married = [r for r in rows.values() if r["marital_status"] == "已婚"]
    assert married
    for row in married:
        spouse = rows.get(row["spouse_id"])
        if spouse is not None:  # a spouse mzj has no record of is possible (not_found for them)
            assert (spouse["spouse_id"], spouse["registered_on"]) == (
                row["resident_id"],
                row["registered_on"],
            )
    assert all(r["spouse_id"] is None for r in rows.values() if r["marital_status"] != "已婚")


def test_every_identifier_in_the_new_registers_validates(sample_dir: pathlib.Path) -> None:
    persons = [
        *(r[0] for r in _rows(sample_dir, "bdc", "SELECT resident_id FROM property_owner")),
        *(r[0] for r in _rows(sample_dir, "mzj", "SELECT resident_id FROM marital_record")),
        *(r[0] for r in _rows(sample_dir, "wjw", "SELECT resident_id FROM birth_certificate")),
        *(r[0] for r in _rows(sample_dir, "ybj", "SELECT resident_id FROM medical_insured")),
        *(r[0] for r in _rows(sample_dir, "hrss", "SELECT resident_id FROM ss_card")),
    ]
    listed = _rows(sample_dir, "court", "SELECT subject_type, subject_id FROM dishonest_debtor")
    assert persons and listed
    assert all(is_valid_resident_id(p) for p in persons)
    assert all(is_valid_resident_id(i) if t == "person" else is_valid_uscc(i) for t, i in listed)

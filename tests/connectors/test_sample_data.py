"""Tests for the deterministic sample registers of psb, hrss and amr (the scenarios' registers:
test_sample_registers.py)."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal

import pytest

from connectors.samples.data import (
    AS_OF,
    FAMILY_SIZE,
    MIN_ENTERPRISES,
    MIN_PERSONS,
    SCHEMAS,
    SampleSubjects,
    generate,
    sample_subjects,
)
from protocol.identifiers import is_valid_resident_id, is_valid_uscc

TABLES = {"psb": "hukou_person", "hrss": "si_insured", "amr": "business_licence"}
COLUMNS = {
    "hukou_person": [
        "resident_id",
        "name",
        "gender",
        "birth_date",
        "ethnicity",
        "registered_address",
        "household_no",
        "relation_to_head",
    ],
    "si_insured": [
        "resident_id",
        "name",
        "insurance_status",
        "contribution_base",
        "months_paid",
        "employer_name",
        "employer_uscc",
    ],
    "business_licence": [
        "uscc",
        "name",
        "legal_representative",
        "legal_rep_id",
        "enterprise_type",
        "registered_capital",
        "established_on",
        "business_scope",
        "address",
        "status",
    ],
}
REGION_CODES = {"330106", "310104", "440305", "110105", "510107"}


def _rows(directory: pathlib.Path, dept: str) -> list[sqlite3.Row]:
    connection = sqlite3.connect(directory / f"{dept}.sqlite")
    connection.row_factory = sqlite3.Row
    try:
        return connection.execute(f"SELECT * FROM {TABLES[dept]} ORDER BY 1").fetchall()
    finally:
        connection.close()


def _dump(directory: pathlib.Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of every department's file."""
    dump = {}
    for filename in SCHEMAS:
        connection = sqlite3.connect(directory / filename)
        try:
            tables = [t for (t,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in sorted(tables):
                dump[f"{filename}:{table}"] = connection.execute(
                    f"SELECT * FROM {table} ORDER BY 1"
                ).fetchall()
        finally:
            connection.close()
    return dump


def _age(birth: datetime.date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="module")
def subjects(sample_dir: pathlib.Path) -> SampleSubjects:
    return generate(sample_dir)


@pytest.fixture(scope="module")
def psb(sample_dir: pathlib.Path, subjects: SampleSubjects) -> dict[str, sqlite3.Row]:
    return {row["resident_id"]: row for row in _rows(sample_dir, "psb")}


@pytest.fixture(scope="module")
def hrss(sample_dir: pathlib.Path, subjects: SampleSubjects) -> dict[str, sqlite3.Row]:
    return {row["resident_id"]: row for row in _rows(sample_dir, "hrss")}


@pytest.fixture(scope="module")
def amr(sample_dir: pathlib.Path, subjects: SampleSubjects) -> dict[str, sqlite3.Row]:
    return {row["uscc"]: row for row in _rows(sample_dir, "amr")}


# --- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dept", TABLES)
def test_schema_has_the_agreed_columns(sample_dir: pathlib.Path, subjects: SampleSubjects, dept: str) -> None:
    connection = sqlite3.connect(sample_dir / f"{dept}.sqlite")
    try:
        info = connection.execute(f"PRAGMA table_info({TABLES[dept]})").fetchall()
    finally:
        connection.close()
    assert [column[1] for column in info] == COLUMNS[TABLES[dept]]
    assert info[0][5] == 1  # the first column is the primary key


def test_psb_has_household_index(sample_dir: pathlib.Path, subjects: SampleSubjects) -> None:
    connection = sqlite3.connect(sample_dir / "psb.sqlite")
    try:
        indexes = connection.execute("PRAGMA index_list(hukou_person)").fetchall()
        columns = {
            column[2]
            for index in indexes
            for column in connection.execute(f"PRAGMA index_info({index[1]})").fetchall()
        }
    finally:
        connection.close()
    assert "household_no" in columns


# --- identifiers -------------------------------------------------------------------------------


def test_every_generated_identifier_validates(
    psb: dict[str, sqlite3.Row], hrss: dict[str, sqlite3.Row], amr: dict[str, sqlite3.Row]
) -> None:
    assert all(is_valid_resident_id(resident_id) for resident_id in psb)
    assert all(is_valid_resident_id(resident_id) for resident_id in hrss)
    assert all(is_valid_uscc(uscc) for uscc in amr)
    assert all(is_valid_resident_id(row["legal_rep_id"]) for row in amr.values())
    assert all(is_valid_uscc(row["employer_uscc"]) for row in hrss.values() if row["employer_uscc"])


def test_resident_ids_agree_with_birth_date_and_gender(psb: dict[str, sqlite3.Row]) -> None:
    for resident_id, row in psb.items():
        assert resident_id[:6] in REGION_CODES
        assert resident_id[6:14] == row["birth_date"].replace("-", "")
        # GB 11643: the last digit of the sequence is odd for men, even for women.
        assert int(resident_id[16]) % 2 == (1 if row["gender"] == "男" else 0)


def test_usccs_follow_the_market_regulation_pattern(amr: dict[str, sqlite3.Row]) -> None:
    for uscc, row in amr.items():
        assert uscc[:2] in ("91", "92")
        assert uscc[2:8] in REGION_CODES
        assert (uscc[:2] == "92") == (row["enterprise_type"] == "个体工商户")
    assert any(uscc.startswith("92") for uscc in amr)


# --- demo subjects -----------------------------------------------------------------------------


def test_demo_person_heads_a_household_known_to_psb_and_hrss(
    subjects: SampleSubjects, psb: dict[str, sqlite3.Row], hrss: dict[str, sqlite3.Row]
) -> None:
    head = psb[subjects.demo_person]
    assert head["relation_to_head"] == "户主"
    assert subjects.demo_person in hrss
    others = [
        row
        for resident_id, row in psb.items()
        if row["household_no"] == head["household_no"] and resident_id != subjects.demo_person
    ]
    assert len(others) >= 2


def test_person_only_in_psb(
    subjects: SampleSubjects, psb: dict[str, sqlite3.Row], hrss: dict[str, sqlite3.Row]
) -> None:
    assert subjects.person_only_in_psb in psb
    assert subjects.person_only_in_psb not in hrss
    assert _age(datetime.date.fromisoformat(psb[subjects.person_only_in_psb]["birth_date"])) >= 18


def test_unknown_person_is_valid_and_nowhere(
    subjects: SampleSubjects,
    psb: dict[str, sqlite3.Row],
    hrss: dict[str, sqlite3.Row],
    amr: dict[str, sqlite3.Row],
) -> None:
    assert is_valid_resident_id(subjects.unknown_person)
    assert subjects.unknown_person not in psb
    assert subjects.unknown_person not in hrss
    assert subjects.unknown_person not in {row["legal_rep_id"] for row in amr.values()}


def test_demo_enterprise_is_in_business(subjects: SampleSubjects, amr: dict[str, sqlite3.Row]) -> None:
    assert amr[subjects.demo_enterprise]["status"] == "存续"


def test_subject_lists_match_the_registers(
    subjects: SampleSubjects, psb: dict[str, sqlite3.Row], amr: dict[str, sqlite3.Row]
) -> None:
    assert sorted(subjects.all_persons) == sorted(psb)
    assert sorted(subjects.all_enterprises) == sorted(amr)
    assert len(psb) == 300 + FAMILY_SIZE  # the newborn's family joins the generated population
    assert len(amr) == 80


def test_default_seed_identifiers_are_pinned(subjects: SampleSubjects) -> None:
    # Demos and docs quote these; identifiers come from random.Random alone, not from Faker's lists.
    assert subjects.demo_person == "110105198804190479"
    assert subjects.person_only_in_psb == "440305196101176425"
    assert subjects.unknown_person == "330106196610094874"
    assert subjects.demo_enterprise == "91510107848066859G"


# --- coherence ---------------------------------------------------------------------------------


def test_households_are_coherent(psb: dict[str, sqlite3.Row]) -> None:
    households: dict[str, list[sqlite3.Row]] = defaultdict(list)
    for row in psb.values():
        households[row["household_no"]].append(row)
    for members in households.values():
        assert 1 <= len(members) <= 5
        assert len({row["registered_address"] for row in members}) == 1
        heads = [row for row in members if row["relation_to_head"] == "户主"]
        assert len(heads) == 1
        births = {row["relation_to_head"]: datetime.date.fromisoformat(row["birth_date"]) for row in members}
        for row in members:
            born = datetime.date.fromisoformat(row["birth_date"])
            assert datetime.date(1900, 1, 1) <= born <= AS_OF
            if row["relation_to_head"] in ("子", "女"):
                assert born > births["户主"]
                assert "配偶" not in births or born > births["配偶"]
            if row["relation_to_head"] in ("父亲", "母亲"):
                assert born < births["户主"]


def test_text_is_chinese(psb: dict[str, sqlite3.Row], amr: dict[str, sqlite3.Row]) -> None:
    assert {row["gender"] for row in psb.values()} <= {"男", "女"}
    assert all(row["ethnicity"].endswith("族") for row in psb.values())
    assert all(not row["name"].isascii() for row in list(psb.values()) + list(amr.values()))


def test_insured_are_about_seventy_percent_of_adults(
    psb: dict[str, sqlite3.Row], hrss: dict[str, sqlite3.Row]
) -> None:
    adults = {rid for rid, row in psb.items() if _age(datetime.date.fromisoformat(row["birth_date"])) >= 18}
    assert set(hrss) <= adults
    assert 0.55 <= len(hrss) / len(adults) <= 0.85


def test_insurance_rows_are_plausible(
    psb: dict[str, sqlite3.Row], hrss: dict[str, sqlite3.Row], amr: dict[str, sqlite3.Row]
) -> None:
    statuses = [row["insurance_status"] for row in hrss.values()]
    assert set(statuses) <= {"参保缴费", "暂停缴费", "终止参保"}
    assert statuses.count("参保缴费") > len(statuses) / 2
    for resident_id, row in hrss.items():
        assert row["name"] == psb[resident_id]["name"]
        base = Decimal(str(row["contribution_base"]))
        assert Decimal(3000) <= base <= Decimal(35000)
        assert base == base.quantize(Decimal("0.01"))
        age = _age(datetime.date.fromisoformat(psb[resident_id]["birth_date"]))
        assert 1 <= row["months_paid"] <= max(1, (age - 18) * 12 + 12)
        assert (row["employer_name"] is None) == (row["employer_uscc"] is None)
        if row["employer_uscc"]:
            assert amr[row["employer_uscc"]]["name"] == row["employer_name"]


def test_licences_are_plausible(psb: dict[str, sqlite3.Row], amr: dict[str, sqlite3.Row]) -> None:
    statuses = [row["status"] for row in amr.values()]
    assert set(statuses) <= {"存续", "注销", "吊销"}
    assert statuses.count("存续") > len(statuses) / 2
    for row in amr.values():
        rep = psb[row["legal_rep_id"]]
        assert rep["name"] == row["legal_representative"]
        born = datetime.date.fromisoformat(rep["birth_date"])
        established = datetime.date.fromisoformat(row["established_on"])
        assert _age(born) >= 18
        assert established.isoformat() == row["established_on"]
        assert established <= AS_OF
        assert row["registered_capital"].endswith("万元人民币")
    assert len({row["name"] for row in amr.values()}) == len(amr)


# --- reproducibility ---------------------------------------------------------------------------


def test_rerun_with_same_seed_is_identical(tmp_path: pathlib.Path, sample_dir: pathlib.Path) -> None:
    first = _dump(sample_dir)
    again = generate(tmp_path / "again")
    assert _dump(tmp_path / "again") == first
    # Re-creating over existing files gives the same contents and leaves no temporary files behind.
    assert generate(tmp_path / "again") == again
    assert _dump(tmp_path / "again") == first
    assert sorted(path.name for path in (tmp_path / "again").iterdir()) == sorted(SCHEMAS)


def test_regenerate_replaces_the_file_instead_of_rewriting_it(tmp_path: pathlib.Path) -> None:
    generate(tmp_path, seed=7, persons=20, enterprises=5)
    reader = sqlite3.connect(tmp_path / "psb.sqlite")
    try:
        before = reader.execute("SELECT * FROM hukou_person ORDER BY 1").fetchall()
        generate(tmp_path, seed=8, persons=20, enterprises=5)
        # An open reader keeps seeing the old file: the new one was renamed into place.
        assert reader.execute("SELECT * FROM hukou_person ORDER BY 1").fetchall() == before
    finally:
        reader.close()
    assert _dump(tmp_path)["psb.sqlite:hukou_person"] != [tuple(row) for row in before]


def test_sample_subjects_agrees_with_generate(subjects: SampleSubjects) -> None:
    assert sample_subjects() == subjects


def test_other_seeds_differ_and_honour_sizes(tmp_path: pathlib.Path, subjects: SampleSubjects) -> None:
    other = generate(tmp_path, seed=1, persons=40, enterprises=6)
    assert other.demo_person != subjects.demo_person
    assert len(other.all_persons) == 40 + FAMILY_SIZE
    assert len(other.all_enterprises) == 6
    assert sample_subjects(seed=1, persons=40, enterprises=6) == other


@pytest.mark.parametrize("seed", range(20))
def test_small_registers_keep_the_demo_guarantees(seed: int) -> None:
    subjects = sample_subjects(seed=seed, persons=MIN_PERSONS, enterprises=MIN_ENTERPRISES)
    named = [
        subjects.demo_person,
        subjects.person_only_in_psb,
        subjects.contested_owner,
        subjects.sole_trader,
        subjects.dishonest_person,
        subjects.newborn,
        subjects.newborn_mother,
        subjects.newborn_father,
    ]
    assert len(set(named)) == len(named) and set(named) <= set(subjects.all_persons)
    assert subjects.unknown_person not in subjects.all_persons
    assert subjects.all_enterprises == (subjects.demo_enterprise, subjects.dishonest_enterprise)


def test_too_small_is_refused() -> None:
    with pytest.raises(ValueError):
        sample_subjects(persons=MIN_PERSONS - 1)
    with pytest.raises(ValueError):
        sample_subjects(enterprises=MIN_ENTERPRISES - 1)


def test_same_subjects_in_a_fresh_interpreter(subjects: SampleSubjects) -> None:
    # A different hash seed would expose any dependence on set or dict iteration order.
    code = (
        "import dataclasses, json; from connectors.samples.data import sample_subjects; "
        "print(json.dumps(dataclasses.asdict(sample_subjects())))"
    )
    root = pathlib.Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)}
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env, cwd=root
    ).stdout
    fresh = json.loads(output)
    assert fresh["demo_person"] == subjects.demo_person
    assert tuple(fresh["all_persons"]) == subjects.all_persons
    assert tuple(fresh["all_enterprises"]) == subjects.all_enterprises


def test_generation_is_fast(tmp_path: pathlib.Path) -> None:
    started = time.perf_counter()
    generate(tmp_path, seed=424242)  # a seed no other test builds, so nothing is cached
    assert time.perf_counter() - started < 2

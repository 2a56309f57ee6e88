"""Deterministic synthetic registers for the sample departments (SCENARIOS.md, "Subjects").

One SQLite file per source department, rebuilt bit-for-bit from a seed for a given Faker release:
psb.sqlite (公安局 household registration), hrss.sqlite (人社局 social insurance and social security
cards), amr.sqlite (市场监管局 business licences), bdc.sqlite (不动产登记中心 property rights),
court.sqlite (法院 dishonest-debtor list), mzj.sqlite (民政局 marital status), wjw.sqlite (卫健委 birth
certificates) and ybj.sqlite (医保局 medical insurance enrolment). Each register's tables and rows are
in connectors/samples/registers/; the people in connectors/samples/people.py.

Structure and identifiers come from a `random.Random(seed)` that no Faker call touches, so the demo
identifiers stay the same even if a Faker upgrade changes its name lists; names and streets come from
a `Faker('zh_CN')` seeded alike. The registers added for the scenarios (bdc, court, mzj, wjw, ybj,
social security cards, the newborn's family) draw from a second generator of their own, so the first
registers and their pinned identifiers did not change when they came.
"""

from __future__ import annotations

import datetime
import functools
import os
import pathlib
import random
import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from faker import Faker

from connectors.samples.people import (
    AS_OF,
    REGIONS,
    Person,
    age,
    between,
    build_newborn_family,
    build_persons,
)
from connectors.samples.registers import amr, bdc, court, hrss, mzj, wjw, ybj
from protocol.identifiers import make_resident_id

__all__ = [
    "AS_OF",
    "DEFAULT_SEED",
    "FAMILY_SIZE",
    "MIN_ENTERPRISES",
    "MIN_PERSONS",
    "SCHEMAS",
    "SampleSubjects",
    "generate",
    "sample_subjects",
]

DEFAULT_SEED = 20261128
# The smallest population that still holds every named subject: the demo household (4), the person
# only psb knows (1) and three more households (at most 5 each), whose heads play the scenarios' roles.
MIN_PERSONS = 20
MIN_ENTERPRISES = 2
# Persons added to the generated population: the newborn's family (father, mother, newborn).
FAMILY_SIZE = 3


@dataclass(frozen=True)
class SampleSubjects:
    """Identifiers the demo and the tests rely on, for one seed (docs/sample-data.md)."""

    demo_person: str
    person_only_in_psb: str
    unknown_person: str
    demo_enterprise: str
    all_persons: tuple[str, ...]
    all_enterprises: tuple[str, ...]
    # SCENARIOS.md C: bdc still lists a flat this person sold last year (the value a caseworker contests).
    contested_owner: str
    # SCENARIOS.md A: owns the shop registered as premises; not on the court's list.
    sole_trader: str
    dishonest_person: str  # on the court's dishonest-debtor list
    dishonest_enterprise: str
    # SCENARIOS.md B: one psb household; the parents married to each other at mzj; the wjw birth
    # certificate names both; ybj 未参保 and hrss 未申领 for the newborn.
    newborn: str
    newborn_mother: str
    newborn_father: str


@dataclass(frozen=True)
class _Dataset:
    # file name -> table -> rows
    tables: Mapping[str, Mapping[str, tuple[tuple[object, ...], ...]]]
    subjects: SampleSubjects


def _hukou(people: Sequence[Person]) -> tuple[tuple[object, ...], ...]:
    return tuple(
        (
            p.resident_id,
            p.name,
            p.gender,
            p.birth_date.isoformat(),
            p.ethnicity,
            p.registered_address,
            p.household_no,
            p.relation_to_head,
        )
        for p in people
    )


def _roles(people: Sequence[Person], *, skip: set[str], insured: set[str]) -> tuple[Person, Person, Person]:
    """Three adults of different households for the contested owner, the sole trader and the debtor.

    Heads with a social insurance record come first: the contested owner applies for public rental
    housing in C, which asks for the income proxies too.
    """
    heads = [p for p in people if p.relation_to_head == "户主" and p.resident_id not in skip]
    heads.sort(key=lambda p: p.resident_id not in insured)  # stable: the register's order otherwise
    contested, sole_trader, dishonest = heads[:3]
    return contested, sole_trader, dishonest


@functools.lru_cache(maxsize=8)
def _build(seed: int, persons: int, enterprises: int) -> _Dataset:
    if persons < MIN_PERSONS or enterprises < MIN_ENTERPRISES:
        raise ValueError(
            f"need at least {MIN_PERSONS} persons (the demo household, the named subjects' households and "
            f"one more) and {MIN_ENTERPRISES} enterprises (the demo enterprise and a dishonest one)"
        )
    rng = random.Random(seed)  # noqa: S311 -- synthetic data must be reproducible, not secret
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    people = build_persons(rng, fake, persons)
    adults = [person for person in people if age(person.birth_date) >= 18]
    licences = amr.build_enterprises(rng, fake, enterprises, adults)
    in_business = [row for row in licences if row[9] == "存续"]
    demo = people[0]
    only_in_psb = next(person for person in people[1:] if person.relation_to_head == "户主")
    insured = hrss.build_insured(rng, adults, in_business, only_in_psb.resident_id, demo.resident_id)
    known = {person.resident_id for person in people}
    while True:
        region = rng.choice(REGIONS)
        birth = between(rng, datetime.date(1960, 1, 1), datetime.date(2000, 12, 31))
        unknown = make_resident_id(region.code, birth, rng.randint(0, 999))
        if unknown not in known:
            break

    # The scenarios' registers, from a generator of their own (see the module's docstring).
    extra = random.Random(f"{seed}:scenarios")  # noqa: S311 -- reproducible, not secret
    extra_fake = Faker("zh_CN")
    extra_fake.seed_instance(seed + 1)
    households = max(int(p.household_no[6:]) for p in people)
    father, mother, newborn = build_newborn_family(
        extra, extra_fake, f"{REGIONS[0].code}{households + 1:06d}", known | {unknown}
    )
    population = [*people, father, mother, newborn]
    contested, sole_trader, dishonest = _roles(
        people, skip={demo.resident_id, only_in_psb.resident_id}, insured={str(row[0]) for row in insured}
    )
    family = {father.resident_id, mother.resident_id, newborn.resident_id}
    named = {demo.resident_id, contested.resident_id, sole_trader.resident_id, dishonest.resident_id} | family
    not_known = {only_in_psb.resident_id}

    def dropped(share: float) -> set[str]:
        # A source that never heard of some people: not_found for them (SCENARIOS.md, "Subjects").
        return not_known | {
            p.resident_id for p in population if p.resident_id not in named and extra.random() < share
        }

    rights, owners = bdc.build_properties(
        extra,
        extra_fake,
        population,
        unknown=not_known,
        owners_of_home=[demo, contested, sole_trader],
        contested=contested,
        sole_trader=sole_trader,
    )
    listed = court.build_list(
        extra,
        [p for p in population if age(p.birth_date) >= 18],
        licences,
        listed_person=dishonest,
        listed_enterprise=licences[1],
        never=named - {dishonest.resident_id} | {str(licences[0][0])},
    )
    marital = mzj.build_records(extra, population, unknown=dropped(0.05))
    births = wjw.build_certificates(extra, extra_fake, population, unknown=not_known)
    enrolment = ybj.build_enrolment(
        extra,
        population,
        unknown=dropped(0.03),
        not_insured={newborn.resident_id},
        insured={father.resident_id, mother.resident_id},
    )
    cards = hrss.build_cards(extra, population, unknown=not_known, not_applied={newborn.resident_id})
    subjects = SampleSubjects(
        demo_person=demo.resident_id,
        person_only_in_psb=only_in_psb.resident_id,
        unknown_person=unknown,
        demo_enterprise=str(licences[0][0]),
        all_persons=tuple(person.resident_id for person in population),
        all_enterprises=tuple(str(row[0]) for row in licences),
        contested_owner=contested.resident_id,
        sole_trader=sole_trader.resident_id,
        dishonest_person=dishonest.resident_id,
        dishonest_enterprise=str(licences[1][0]),
        newborn=newborn.resident_id,
        newborn_mother=mother.resident_id,
        newborn_father=father.resident_id,
    )
    tables = {
        "psb.sqlite": {"hukou_person": _hukou(population)},
        "hrss.sqlite": {"si_insured": tuple(insured), "ss_card": tuple(cards)},
        "amr.sqlite": {"business_licence": tuple(licences)},
        "bdc.sqlite": {"property_right": tuple(rights), "property_owner": tuple(owners)},
        "court.sqlite": {"dishonest_debtor": tuple(listed)},
        "mzj.sqlite": {"marital_record": tuple(marital)},
        "wjw.sqlite": {"birth_certificate": tuple(births)},
        "ybj.sqlite": {"medical_insured": tuple(enrolment)},
    }
    return _Dataset(tables, subjects)


_PSB_SCHEMA = (
    "CREATE TABLE hukou_person (resident_id TEXT PRIMARY KEY, name TEXT NOT NULL, gender TEXT NOT NULL, "
    "birth_date TEXT NOT NULL, ethnicity TEXT NOT NULL, registered_address TEXT NOT NULL, "
    "household_no TEXT NOT NULL, relation_to_head TEXT NOT NULL);"
    "CREATE INDEX hukou_person_household_no ON hukou_person (household_no);"
)
# Each department's file and the DDL of its tables.
SCHEMAS = {
    "psb.sqlite": _PSB_SCHEMA,
    "hrss.sqlite": hrss.SI_SCHEMA + hrss.CARD_SCHEMA,
    "amr.sqlite": amr.SCHEMA,
    "bdc.sqlite": bdc.SCHEMA,
    "court.sqlite": court.SCHEMA,
    "mzj.sqlite": mzj.SCHEMA,
    "wjw.sqlite": wjw.SCHEMA,
    "ybj.sqlite": ybj.SCHEMA,
}


def _write_atomically(
    path: pathlib.Path, schema: str, tables: Mapping[str, Sequence[tuple[object, ...]]]
) -> None:
    # Build beside the target and rename over it, so a connector never opens a half-written file.
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        connection = sqlite3.connect(temp_name)
        try:
            with connection:
                connection.executescript(schema)
                for table, rows in tables.items():
                    if rows:
                        placeholders = ", ".join("?" * len(rows[0]))
                        # The table name comes from _build, never from input.
                        connection.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows)  # noqa: S608
        finally:
            connection.close()
        os.replace(temp_name, path)
    except BaseException:
        pathlib.Path(temp_name).unlink(missing_ok=True)
        raise


def generate(
    directory: pathlib.Path, *, seed: int = DEFAULT_SEED, persons: int = 300, enterprises: int = 80
) -> SampleSubjects:
    """Create or atomically re-create every sample department's database (SCHEMAS) in directory."""
    dataset = _build(seed, persons, enterprises)
    directory.mkdir(parents=True, exist_ok=True)
    # Each file is replaced atomically on its own; together they are not one transaction.
    for filename, schema in SCHEMAS.items():
        _write_atomically(directory / filename, schema, dataset.tables[filename])
    return dataset.subjects


def sample_subjects(*, seed: int = DEFAULT_SEED, persons: int = 300, enterprises: int = 80) -> SampleSubjects:
    """The same subjects generate() would write, without touching disk."""
    return _build(seed, persons, enterprises).subjects

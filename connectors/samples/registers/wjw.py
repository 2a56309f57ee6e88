"""卫生健康委员会 (wjw): birth certificates (出生医学证明), keyed by the child's resident ID.

Certificates exist for births since 1996 (母婴保健法, in force 1 June 1995, introduced them); a child
of the household names the head and the spouse as parents, anyone else has parents the sample does
not register (their names only).
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from collections.abc import Sequence

from faker import Faker

from connectors.samples.people import REGIONS, Person

SCHEMA = (
    "CREATE TABLE birth_certificate (certificate_no TEXT PRIMARY KEY, resident_id TEXT NOT NULL UNIQUE, "
    "name TEXT NOT NULL, gender TEXT NOT NULL, birth_date TEXT NOT NULL, birth_place TEXT NOT NULL, "
    "mother_name TEXT NOT NULL, mother_id TEXT, father_name TEXT NOT NULL, father_id TEXT);"
)
CERTIFICATES_SINCE = datetime.date(1996, 1, 1)
_HOSPITALS = ("妇幼保健院", "第一人民医院", "人民医院", "中医院")


def build_certificates(
    rng: random.Random, fake: Faker, people: Sequence[Person], *, unknown: set[str]
) -> list[tuple[object, ...]]:
    """Rows of birth_certificate for the persons born since 1996 who are not in `unknown`."""
    households: dict[str, dict[str, Person]] = defaultdict(dict)
    for person in people:
        households[person.household_no].setdefault(person.relation_to_head, person)
    rows: list[tuple[object, ...]] = []
    numbers: set[str] = set()
    for person in people:
        if person.resident_id in unknown or person.birth_date < CERTIFICATES_SINCE:
            continue
        members = households[person.household_no]
        parents = (
            [members[r] for r in ("户主", "配偶") if r in members]
            if person.relation_to_head in ("子", "女")
            else []
        )
        father = next((p for p in parents if p.gender == "男"), None)
        mother = next((p for p in parents if p.gender == "女"), None)
        # Born where the ID was issued (its first six characters name the district).
        region = next(r for r in REGIONS if r.code == person.resident_id[:6])
        while True:
            number = (
                f"{'NOPQ'[min(3, (person.birth_date.year - 1996) // 8)]}{rng.randint(0, 999_999_999):09d}"
            )
            if number not in numbers:
                break
        numbers.add(number)
        rows.append(
            (
                number,
                person.resident_id,
                person.name,
                person.gender,
                person.birth_date.isoformat(),
                f"{region.locality}{rng.choice(_HOSPITALS)}",
                mother.name if mother else fake.last_name() + fake.first_name_female(),
                mother.resident_id if mother else None,
                father.name if father else person.name[0] + fake.first_name_male(),
                father.resident_id if father else None,
            )
        )
    return rows

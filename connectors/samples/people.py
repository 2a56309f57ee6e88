"""The synthetic population the sample registers describe: regions, households and persons.

Structure and identifiers come from a `random.Random(seed)` that no Faker call touches; names and
streets from a seeded `Faker('zh_CN')` (connectors/samples/data.py).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence
from dataclasses import dataclass

from faker import Faker

from protocol.identifiers import make_resident_id

# Ages and "months paid" are computed against a fixed day, not the clock, so reruns agree; it must
# not be later than any real today, or validation would see births in the future.
AS_OF = datetime.date(2026, 1, 1)


@dataclass(frozen=True)
class Region:
    """A district the sample's people and enterprises are registered in."""

    code: str  # GB/T 2260 district code: the first six characters of IDs, USCC positions 3-8
    province: str  # empty for the municipalities, whose city is the province
    locality: str  # city and district, as sole traders' names start
    city: str  # short city name, as company names start

    @property
    def prefix(self) -> str:
        """The start of an address in this district."""
        return self.province + self.locality


REGIONS = (
    Region("330106", "浙江省", "杭州市西湖区", "杭州"),
    Region("310104", "", "上海市徐汇区", "上海"),
    Region("440305", "广东省", "深圳市南山区", "深圳"),
    Region("110105", "", "北京市朝阳区", "北京"),
    Region("510107", "四川省", "成都市武侯区", "成都"),
)
ETHNICITIES = (
    ("汉族", 90),
    ("回族", 3),
    ("满族", 2),
    ("壮族", 2),
    ("土家族", 1),
    ("苗族", 1),
    ("蒙古族", 1),
)


@dataclass(frozen=True)
class Person:
    """One person as public security registers them (a row of hukou_person)."""

    resident_id: str
    name: str
    gender: str
    birth_date: datetime.date
    ethnicity: str
    registered_address: str
    household_no: str
    relation_to_head: str


def weighted(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    """One of the options, drawn by weight."""
    return rng.choices([value for value, _ in options], weights=[weight for _, weight in options])[0]


def add_years(day: datetime.date, years: int) -> datetime.date:
    """The same day `years` later (or earlier)."""
    # 29 February has no counterpart in most years; the registers use 28 February then.
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def between(rng: random.Random, start: datetime.date, end: datetime.date) -> datetime.date:
    """A day from start to end, both included."""
    return start + datetime.timedelta(days=rng.randint(0, (end - start).days))


def age(birth: datetime.date) -> int:
    """Full years at AS_OF."""
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def plan_household(
    rng: random.Random, size: int, head_ages: tuple[int, int]
) -> list[tuple[str, str, datetime.date]]:
    """Relations, genders and births for one household, head first, with coherent ages."""
    head_gender = "男" if rng.random() < 0.7 else "女"
    head_birth = between(rng, add_years(AS_OF, -head_ages[1]), add_years(AS_OF, -head_ages[0]))
    members = [("户主", head_gender, head_birth)]
    if size >= 2:
        spouse_birth = head_birth + datetime.timedelta(days=rng.randint(-5 * 365, 5 * 365))
        members.append(
            ("配偶", "女" if head_gender == "男" else "男", min(spouse_birth, add_years(AS_OF, -20)))
        )
    births = [birth for _, _, birth in members]
    # Children are born after both parents turn 22 and before the older one turns 42.
    child_from, child_to = add_years(max(births), 22), min(add_years(min(births), 42), AS_OF)
    children: list[tuple[str, str, datetime.date]] = []
    if child_from <= child_to:
        for _ in range(3):
            gender = rng.choice(("男", "女"))
            children.append(("子" if gender == "男" else "女", gender, between(rng, child_from, child_to)))
        children.sort(key=lambda member: member[2])
    parents: list[tuple[str, str, datetime.date]] = []
    # Parents only while they would be younger than about 95, and never born before 1900.
    if age(head_birth) <= 60:
        parents.append(("父亲", "男", add_years(head_birth, -rng.randint(23, 35))))
        parents.append(("母亲", "女", add_years(head_birth, -rng.randint(21, 33))))
    slots = parents + children if parents and rng.random() < 0.3 else children + parents
    return members + slots[: size - len(members)]


def build_persons(rng: random.Random, fake: Faker, count: int) -> list[Person]:
    """The population, household by household (household 0 is the demo household)."""
    persons: list[Person] = []
    used: set[str] = set()
    household = 0
    while len(persons) < count:
        # Household 0 is the demo household (head with a spouse and two more); household 1's head is
        # the adult the social-insurance register will not know.
        if household == 0:
            size, head_ages = 4, (35, 50)
        else:
            size = min(count - len(persons), rng.choices((1, 2, 3, 4, 5), weights=(20, 25, 30, 15, 10))[0])
            head_ages = (28, 75) if size >= 3 else (22, 85) if size == 2 else (18, 85)
        region = rng.choice(REGIONS)
        household_no = f"{region.code}{household + 1:06d}"
        ethnicity = weighted(rng, ETHNICITIES)
        address = (
            f"{region.prefix}{fake.street_name()}{rng.randint(1, 999)}号"
            f"{rng.randint(1, 30)}幢{rng.randint(1, 4)}单元{rng.randint(1, 30)}{rng.randint(1, 4):02d}室"
        )
        plan = plan_household(rng, size, head_ages)
        head_gender = plan[0][1]
        family_name = fake.last_name()
        spouse_family_name = fake.last_name()
        # Children take the father's surname; the head's father shares the head's.
        child_family_name = family_name if head_gender == "男" or len(plan) < 2 else spouse_family_name
        for relation, gender, birth in plan:
            if relation in ("配偶", "母亲"):
                surname = spouse_family_name if relation == "配偶" else fake.last_name()
            elif relation in ("子", "女"):
                surname = child_family_name
            else:
                surname = family_name
            given = fake.first_name_male() if gender == "男" else fake.first_name_female()
            # Adults may have been born elsewhere; children are registered where the household is.
            id_region = region if relation in ("子", "女") or rng.random() < 0.8 else rng.choice(REGIONS)
            while True:
                # GB 11643 §4.3: the sequence is odd for men and even for women.
                sequence = rng.randint(0, 499) * 2 + (1 if gender == "男" else 0)
                resident_id = make_resident_id(id_region.code, birth, sequence)
                if resident_id not in used:
                    break
            used.add(resident_id)
            persons.append(
                Person(
                    resident_id, surname + given, gender, birth, ethnicity, address, household_no, relation
                )
            )
        household += 1
    return persons


# SCENARIOS.md B: the newborn's family, registered in Hangzhou (the sample items' 330100 region).
NEWBORN_BIRTH = datetime.date(2025, 12, 12)


def build_newborn_family(
    rng: random.Random, fake: Faker, household_no: str, used: set[str]
) -> tuple[Person, Person, Person]:
    """Father (户主), mother (配偶) and their newborn in one household, for the newborn bundle."""
    region = REGIONS[0]
    address = (
        f"{region.prefix}{fake.street_name()}{rng.randint(1, 999)}号"
        f"{rng.randint(1, 30)}幢{rng.randint(1, 4)}单元{rng.randint(1, 30)}{rng.randint(1, 4):02d}室"
    )
    surname = fake.last_name()
    plan = (
        ("户主", "男", between(rng, datetime.date(1990, 1, 1), datetime.date(1994, 12, 31)), surname),
        (
            "配偶",
            "女",
            between(rng, datetime.date(1992, 1, 1), datetime.date(1997, 12, 31)),
            fake.last_name(),
        ),
        ("子", "男", NEWBORN_BIRTH, surname),
    )
    members = []
    for relation, gender, birth, family in plan:
        given = fake.first_name_male() if gender == "男" else fake.first_name_female()
        while True:
            # GB 11643 §4.3: the sequence is odd for men and even for women.
            resident_id = make_resident_id(region.code, birth, rng.randint(0, 499) * 2 + (gender == "男"))
            if resident_id not in used:
                break
        used.add(resident_id)
        members.append(
            Person(resident_id, family + given, gender, birth, "汉族", address, household_no, relation)
        )
    father, mother, child = members
    return father, mother, child

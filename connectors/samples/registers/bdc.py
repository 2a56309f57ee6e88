"""不动产登记中心 (bdc): property rights (不动产权) and their owners (权利人).

A right has one certificate and one or more owners. The register only knows properties: a person it
has no right for is simply someone who owns nothing registered (the elements' meaning, docs/sample-data.md).
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from collections.abc import Sequence

from faker import Faker

from connectors.samples.people import AS_OF, REGIONS, Person, add_years, between
from connectors.samples.registers.places import ABBREVIATIONS

SCHEMA = (
    "CREATE TABLE property_right (certificate_no TEXT PRIMARY KEY, address TEXT NOT NULL, "
    "area_m2 NUMERIC NOT NULL, registered_on TEXT NOT NULL, owners TEXT NOT NULL);"
    "CREATE TABLE property_owner (certificate_no TEXT NOT NULL REFERENCES property_right, "
    "resident_id TEXT NOT NULL, PRIMARY KEY (certificate_no, resident_id));"
    "CREATE INDEX property_owner_resident_id ON property_owner (resident_id);"
)
# 不动产统一登记 (不动产登记暂行条例) began on 1 March 2015: every certificate is issued since then.
UNIFIED_SINCE = datetime.date(2015, 3, 1)


class _Register:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rights: list[tuple[object, ...]] = []
        self.owners: list[tuple[object, ...]] = []
        self._numbers: set[str] = set()

    def add(self, owners: Sequence[Person], address: str, *, registered: datetime.date | None = None) -> None:
        rng = self.rng
        adult = max(add_years(p.birth_date, 18) for p in owners)
        registered = registered or between(rng, max(UNIFIED_SINCE, min(adult, AS_OF)), AS_OF)
        # The property lies where the household is registered (household_no starts with the district).
        abbr, city = ABBREVIATIONS[owners[0].household_no[:6]]
        while True:
            number = f"{abbr}({registered.year}){city}不动产权第{rng.randint(1, 9_999_999):07d}号"
            if number not in self._numbers:
                break
        self._numbers.add(number)
        area = f"{rng.randint(4_500, 16_000) / 100:.2f}"
        self.rights.append((number, address, area, registered.isoformat(), "、".join(p.name for p in owners)))
        self.owners.extend((number, p.resident_id) for p in owners)


def _street(rng: random.Random, fake: Faker, person: Person) -> str:
    region = next(r for r in REGIONS if r.code == person.household_no[:6])
    return f"{region.prefix}{fake.street_name()}{rng.randint(1, 999)}号"


def build_properties(
    rng: random.Random,
    fake: Faker,
    people: Sequence[Person],
    *,
    unknown: set[str],
    owners_of_home: Sequence[Person],
    contested: Person,
    sole_trader: Person,
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Rows of property_right and property_owner.

    About six households in ten own their home (the head, often with the spouse); some own a second
    flat. `contested` also still appears as the owner of a flat sold last year whose transfer the
    register has not recorded (SCENARIOS.md C); `sole_trader` owns a shop, the premises of A.
    """
    register = _Register(rng)
    households: dict[str, list[Person]] = defaultdict(list)
    for person in people:
        households[person.household_no].append(person)
    must = {p.household_no for p in owners_of_home}
    for members in households.values():
        head = next(p for p in members if p.relation_to_head == "户主")
        if head.resident_id in unknown or (head.household_no not in must and rng.random() >= 0.6):
            continue
        spouse = [p for p in members if p.relation_to_head == "配偶"]
        owners = [head, *spouse] if spouse and rng.random() < 0.6 else [head]
        register.add(owners, head.registered_address)
        if rng.random() < 0.1:
            register.add(
                [head], _street(rng, fake, head) + f"{rng.randint(1, 30)}幢{rng.randint(101, 2804)}室"
            )
    # The sale of last year was never registered: the record still names the seller (the wrong value).
    register.add(
        [contested],
        _street(rng, fake, contested) + "2幢1单元502室",
        registered=datetime.date(2017, 6, 19),
    )
    shop = _street(rng, fake, sole_trader) + "1层商铺"
    register.add([sole_trader], shop, registered=datetime.date(2025, 9, 1))
    return register.rights, register.owners

"""民政局 (mzj): marital status (婚姻登记) of the adults it knows.

A married couple point at each other (spouse_id, spouse_name); the others are 未婚, 离婚 or 丧偶 by
age. Minors and the persons it has no record of are not in it (not_found).
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from collections.abc import Sequence

from connectors.samples.people import AS_OF, Person, add_years, age, between, weighted

SCHEMA = (
    "CREATE TABLE marital_record (resident_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "marital_status TEXT NOT NULL CHECK (marital_status IN ('未婚', '已婚', '离婚', '丧偶')), "
    "spouse_id TEXT, spouse_name TEXT, registered_on TEXT);"
)
# The couples a household register implies: the head and the spouse, the head's father and mother.
_COUPLES = (("户主", "配偶"), ("父亲", "母亲"))


def _married_on(rng: random.Random, a: Person, b: Person) -> datetime.date:
    # 民法典 第一千零四十七条: men marry at 22 at the earliest, women at 20.
    start = max(add_years(p.birth_date, 22 if p.gender == "男" else 20) for p in (a, b))
    return between(rng, min(start, AS_OF), min(add_years(start, 8), AS_OF))


def build_records(
    rng: random.Random, people: Sequence[Person], *, unknown: set[str]
) -> list[tuple[object, ...]]:
    """Rows of marital_record for the adults not in `unknown`."""
    households: dict[str, dict[str, Person]] = defaultdict(dict)
    for person in people:
        households[person.household_no].setdefault(person.relation_to_head, person)
    spouse: dict[str, tuple[Person, datetime.date]] = {}
    for members in households.values():
        for one, other in _COUPLES:
            if one in members and other in members:
                a, b = members[one], members[other]
                day = _married_on(rng, a, b)
                spouse[a.resident_id], spouse[b.resident_id] = (b, day), (a, day)
    rows: list[tuple[object, ...]] = []
    for person in people:
        if person.resident_id in unknown or age(person.birth_date) < 18:
            continue
        if person.resident_id in spouse:
            partner, day = spouse[person.resident_id]
            rows.append(
                (person.resident_id, person.name, "已婚", partner.resident_id, partner.name, day.isoformat())
            )
            continue
        years = age(person.birth_date)
        if years < 25:
            status = "未婚"
        elif years >= 65:
            status = weighted(rng, (("未婚", 5), ("离婚", 25), ("丧偶", 70)))
        else:
            status = weighted(rng, (("未婚", 55), ("离婚", 35), ("丧偶", 10)))
        since = (
            None if status == "未婚" else between(rng, add_years(person.birth_date, 25), AS_OF).isoformat()
        )
        rows.append((person.resident_id, person.name, status, None, None, since))
    return rows

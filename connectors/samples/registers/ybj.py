"""医疗保障局 (ybj): basic medical insurance enrolment (基本医疗保险参保登记) of the population it knows.

Its base is the whole registered population (全民参保登记), not only the insured, so it can answer
未参保 for a person it knows; a person it has no record of is not_found.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from connectors.samples.people import Person, age, weighted

SCHEMA = (
    "CREATE TABLE medical_insured (resident_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "insurance_status TEXT NOT NULL CHECK (insurance_status IN ('参保', '未参保', '停保')), scheme TEXT);"
)
_STATUSES = (("参保", 86), ("停保", 7), ("未参保", 7))


def build_enrolment(
    rng: random.Random,
    people: Sequence[Person],
    *,
    unknown: set[str],
    not_insured: set[str],
    insured: set[str],
) -> list[tuple[object, ...]]:
    """Rows of medical_insured; `not_insured` are 未参保 and `insured` 参保 whatever the draw."""
    rows: list[tuple[object, ...]] = []
    for person in people:
        if person.resident_id in unknown:
            continue
        status = weighted(rng, _STATUSES)
        if person.resident_id in not_insured:
            status = "未参保"
        elif person.resident_id in insured:
            status = "参保"
        # Employees are in the employees' scheme (职工医保), everyone else in the residents' one.
        scheme = (
            None
            if status == "未参保"
            else "城乡居民医保"
            if age(person.birth_date) < 18
            else rng.choice(("职工医保", "城乡居民医保"))
        )
        rows.append((person.resident_id, person.name, status, scheme))
    return rows

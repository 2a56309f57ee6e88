"""人民法院 (court): the list of dishonest judgment debtors (失信被执行人名单).

最高人民法院关于公布失信被执行人名单信息的若干规定 (2017): a debtor who fails a duty set by an effective
legal document is put on the list, with the case and the court. It is a list, so it answers for
anyone: a subject not on it is not a dishonest debtor (false), never "unknown" (docs/sample-data.md).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence

from connectors.samples.people import AS_OF, REGIONS, Person, between
from connectors.samples.registers.places import ABBREVIATIONS

SCHEMA = (
    "CREATE TABLE dishonest_debtor (case_no TEXT PRIMARY KEY, subject_type TEXT NOT NULL "
    "CHECK (subject_type IN ('person', 'enterprise')), subject_id TEXT NOT NULL, name TEXT NOT NULL, "
    "court TEXT NOT NULL, obligation TEXT NOT NULL, published_on TEXT NOT NULL);"
    "CREATE INDEX dishonest_debtor_subject ON dishonest_debtor (subject_type, subject_id);"
)
_OBLIGATIONS = (
    "有履行能力而拒不履行生效法律文书确定义务",
    "以伪造证据、暴力、威胁等方法妨碍、抗拒执行",
    "违反财产报告制度",
    "违反限制消费令",
)


def build_list(
    rng: random.Random,
    adults: Sequence[Person],
    enterprises: Sequence[tuple[object, ...]],
    *,
    listed_person: Person,
    listed_enterprise: tuple[object, ...],
    never: set[str],
) -> list[tuple[object, ...]]:
    """Rows of dishonest_debtor: about 3 % of adults and 5 % of enterprises, the named ones included."""
    picked: list[tuple[str, str, str, str]] = []  # type, id, name, district
    for person in adults:
        if person is listed_person or (person.resident_id not in never and rng.random() < 0.03):
            picked.append(("person", person.resident_id, person.name, person.household_no[:6]))
    for row in enterprises:
        uscc = str(row[0])
        if row is listed_enterprise or (uscc not in never and rng.random() < 0.05):
            picked.append(("enterprise", uscc, str(row[1]), uscc[2:8]))
    rows: list[tuple[object, ...]] = []
    numbers: set[str] = set()
    for subject_type, subject_id, name, district in picked:
        published = between(rng, datetime.date(2019, 1, 1), AS_OF)
        abbr, _city = ABBREVIATIONS[district]
        region = next(r for r in REGIONS if r.code == district)
        while True:
            # Case numbers as the courts write them: (year)province-court-code 执 number 号.
            case_no = f"({published.year}){abbr}{district[2:]}执{rng.randint(1, 9999)}号"
            if case_no not in numbers:
                break
        numbers.add(case_no)
        court = f"{region.locality}人民法院"
        rows.append(
            (case_no, subject_type, subject_id, name, court, rng.choice(_OBLIGATIONS), published.isoformat())
        )
    return rows

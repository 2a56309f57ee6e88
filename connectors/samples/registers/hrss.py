"""人社局 (hrss): the social insurance record of insured adults, and social security cards."""

from __future__ import annotations

import random
from collections.abc import Sequence

from connectors.samples.people import Person, age, weighted

SI_SCHEMA = (
    "CREATE TABLE si_insured (resident_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "insurance_status TEXT NOT NULL, contribution_base NUMERIC NOT NULL, months_paid INTEGER NOT NULL, "
    "employer_name TEXT, employer_uscc TEXT);"
)
_SI_STATUSES = (("参保缴费", 80), ("暂停缴费", 12), ("终止参保", 8))


def build_insured(
    rng: random.Random,
    adults: Sequence[Person],
    employers: Sequence[tuple[object, ...]],
    skip: str,
    keep: str,
) -> list[tuple[object, ...]]:
    """Rows of si_insured for about 70 % of adults; `skip` never insured, `keep` always, with an employer."""
    rows: list[tuple[object, ...]] = []
    for person in adults:
        insured = rng.random() < 0.7
        if person.resident_id == skip or (person.resident_id != keep and not insured):
            continue
        status = "参保缴费" if person.resident_id == keep else weighted(rng, _SI_STATUSES)
        # Passed as text with two decimals; NUMERIC affinity stores it as REAL (INTEGER when whole),
        # which reads back with the same two decimals.
        base = f"{rng.randint(300_000, 3_500_000) / 100:.2f}"
        # Contributions start at 18 at the earliest and stop at retirement, taken here as 60.
        working_months = max(1, (min(age(person.birth_date), 60) - 18) * 12)
        months_paid = rng.randint(1, working_months)
        # Flexible workers (灵活就业) and those who left the scheme have no employer on file.
        # The demo person always has one, so the income-proxy scenario shows a complete record.
        flexible = person.resident_id != keep and (status == "终止参保" or rng.random() < 0.2)
        employer = None if flexible else rng.choice(employers)
        rows.append(
            (
                person.resident_id,
                person.name,
                status,
                base,
                months_paid,
                None if employer is None else employer[1],
                None if employer is None else employer[0],
            )
        )
    return rows


CARD_SCHEMA = (
    "CREATE TABLE ss_card (resident_id TEXT PRIMARY KEY, name TEXT NOT NULL, card_status TEXT NOT NULL "
    "CHECK (card_status IN ('未申领', '已制卡', '正常', '挂失')));"
)
_CARD_STATUSES = (("正常", 88), ("已制卡", 5), ("挂失", 4), ("未申领", 3))


def build_cards(
    rng: random.Random, people: Sequence[Person], *, unknown: set[str], not_applied: set[str]
) -> list[tuple[object, ...]]:
    """Rows of ss_card: a social security card record for everyone hrss knows (children too, who are
    not in si_insured: the card is a resident's, not only an employee's); `not_applied` are 未申领."""
    rows: list[tuple[object, ...]] = []
    for person in people:
        if person.resident_id in unknown:
            continue
        status = "未申领" if person.resident_id in not_applied else weighted(rng, _CARD_STATUSES)
        rows.append((person.resident_id, person.name, status))
    return rows

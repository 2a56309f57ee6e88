"""Deterministic synthetic registers for the sample departments (SCENARIOS.md, "Subjects").

psb.sqlite (公安局 household registration), hrss.sqlite (人社局 social insurance) and amr.sqlite
(市场监管局 business licences) are rebuilt bit-for-bit from a seed, for a given Faker release.
Structure and identifiers come from a `random.Random(seed)` that no Faker call touches, so the demo
identifiers stay the same even if a Faker upgrade changes its name lists; names and streets come from
a `Faker('zh_CN')` seeded alike.
"""

from __future__ import annotations

import datetime
import functools
import os
import pathlib
import random
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from faker import Faker

from protocol.identifiers import USCC_CHARSET, make_resident_id, make_uscc

DEFAULT_SEED = 20261128
# Ages and "months paid" are computed against a fixed day, not the clock, so reruns agree; it must
# not be later than any real today, or validation would see births in the future.
AS_OF = datetime.date(2026, 1, 1)


@dataclass(frozen=True)
class SampleSubjects:
    """Identifiers the demo and the tests rely on, for one seed."""

    demo_person: str
    person_only_in_psb: str
    unknown_person: str
    demo_enterprise: str
    all_persons: tuple[str, ...]
    all_enterprises: tuple[str, ...]


@dataclass(frozen=True)
class _Region:
    code: str  # GB/T 2260 district code: the first six characters of IDs, USCC positions 3-8
    province: str  # empty for the municipalities, whose city is the province
    locality: str  # city and district, as sole traders' names start
    city: str  # short city name, as company names start

    @property
    def prefix(self) -> str:
        """The start of an address in this district."""
        return self.province + self.locality


_REGIONS = (
    _Region("330106", "浙江省", "杭州市西湖区", "杭州"),
    _Region("310104", "", "上海市徐汇区", "上海"),
    _Region("440305", "广东省", "深圳市南山区", "深圳"),
    _Region("110105", "", "北京市朝阳区", "北京"),
    _Region("510107", "四川省", "成都市武侯区", "成都"),
)
_ETHNICITIES = (
    ("汉族", 90),
    ("回族", 3),
    ("满族", 2),
    ("壮族", 2),
    ("土家族", 1),
    ("苗族", 1),
    ("蒙古族", 1),
)
_SI_STATUSES = (("参保缴费", 80), ("暂停缴费", 12), ("终止参保", 8))
_LICENCE_STATUSES = (("存续", 85), ("注销", 10), ("吊销", 5))
_COMPANY_TYPES = (
    "有限责任公司（自然人投资或控股）",
    "有限责任公司（自然人独资）",
    "股份有限公司（非上市、自然人投资或控股）",
)
_INDUSTRIES = (
    ("信息技术", "软件开发；信息技术咨询服务；数据处理和存储支持服务；信息系统集成服务"),
    ("餐饮管理", "餐饮服务；食品销售；餐饮管理；外卖递送服务"),
    ("建筑工程", "建设工程施工；住宅室内装饰装修；建筑材料销售"),
    ("商贸", "日用百货销售；五金产品批发；服装服饰零售；货物进出口"),
    ("文化传媒", "广告设计、代理；组织文化艺术交流活动；会议及展览服务"),
    ("物业管理", "物业管理；停车场服务；家政服务"),
    ("医疗器械", "第二类医疗器械销售；医疗设备租赁；技术服务、技术开发"),
)
_SHOPS = (
    ("小吃店", "餐饮服务；食品销售"),
    ("便利店", "食品销售；日用百货销售；烟草制品零售"),
    ("理发店", "理发服务；美容服务"),
    ("五金店", "五金产品零售；建筑材料销售"),
    ("水果店", "食用农产品零售"),
)
# GB 11714-1997: weights for the 8-character body of an organisation code.
_ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class _Person:
    resident_id: str
    name: str
    gender: str
    birth_date: datetime.date
    ethnicity: str
    registered_address: str
    household_no: str
    relation_to_head: str


@dataclass(frozen=True)
class _Dataset:
    hukou_person: tuple[tuple[object, ...], ...]
    si_insured: tuple[tuple[object, ...], ...]
    business_licence: tuple[tuple[object, ...], ...]
    subjects: SampleSubjects


def _weighted(rng: random.Random, options: Sequence[tuple[str, int]]) -> str:
    return rng.choices([value for value, _ in options], weights=[weight for _, weight in options])[0]


def _add_years(day: datetime.date, years: int) -> datetime.date:
    # 29 February has no counterpart in most years; the registers use 28 February then.
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _between(rng: random.Random, start: datetime.date, end: datetime.date) -> datetime.date:
    return start + datetime.timedelta(days=rng.randint(0, (end - start).days))


def _age(birth: datetime.date) -> int:
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def _org_code(rng: random.Random, established: datetime.date) -> str:
    """A 9-character organisation code with its GB 11714 check character."""
    # Codes assigned since the 2015 reform start with "MA"; older ones are all digits.
    if established.year >= 2016:
        body = "MA" + "".join(rng.choice(USCC_CHARSET) for _ in range(6))
    else:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    # GB 11714 values letters A-Z as 10-35 over the full alphabet, which int(char, 36) gives.
    remainder = 11 - sum(int(char, 36) * w for char, w in zip(body, _ORG_CODE_WEIGHTS, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(remainder, str(remainder))


def _trade_name(fake: Faker) -> str:
    """A two-character trade name (字号) such as 凌云; Faker's list also has ones with places or trades."""
    candidate = ""
    # Bounded, so a Faker release without short names degrades to a longer name instead of hanging.
    for _ in range(50):
        candidate = fake.company_prefix()
        if len(candidate) == 2 and all("\u4e00" <= char <= "\u9fff" for char in candidate):
            return candidate
    return candidate


def _plan_household(
    rng: random.Random, size: int, head_ages: tuple[int, int]
) -> list[tuple[str, str, datetime.date]]:
    """Relations, genders and births for one household, head first, with coherent ages."""
    head_gender = "男" if rng.random() < 0.7 else "女"
    head_birth = _between(rng, _add_years(AS_OF, -head_ages[1]), _add_years(AS_OF, -head_ages[0]))
    members = [("户主", head_gender, head_birth)]
    if size >= 2:
        spouse_birth = head_birth + datetime.timedelta(days=rng.randint(-5 * 365, 5 * 365))
        members.append(
            ("配偶", "女" if head_gender == "男" else "男", min(spouse_birth, _add_years(AS_OF, -20)))
        )
    births = [birth for _, _, birth in members]
    # Children are born after both parents turn 22 and before the older one turns 42.
    child_from, child_to = _add_years(max(births), 22), min(_add_years(min(births), 42), AS_OF)
    children: list[tuple[str, str, datetime.date]] = []
    if child_from <= child_to:
        for _ in range(3):
            gender = rng.choice(("男", "女"))
            children.append(("子" if gender == "男" else "女", gender, _between(rng, child_from, child_to)))
        children.sort(key=lambda member: member[2])
    parents: list[tuple[str, str, datetime.date]] = []
    # Parents only while they would be younger than about 95, and never born before 1900.
    if _age(head_birth) <= 60:
        parents.append(("父亲", "男", _add_years(head_birth, -rng.randint(23, 35))))
        parents.append(("母亲", "女", _add_years(head_birth, -rng.randint(21, 33))))
    slots = parents + children if parents and rng.random() < 0.3 else children + parents
    return members + slots[: size - len(members)]


def _build_persons(rng: random.Random, fake: Faker, count: int) -> list[_Person]:
    persons: list[_Person] = []
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
        region = rng.choice(_REGIONS)
        household_no = f"{region.code}{household + 1:06d}"
        ethnicity = _weighted(rng, _ETHNICITIES)
        address = (
            f"{region.prefix}{fake.street_name()}{rng.randint(1, 999)}号"
            f"{rng.randint(1, 30)}幢{rng.randint(1, 4)}单元{rng.randint(1, 30)}{rng.randint(1, 4):02d}室"
        )
        plan = _plan_household(rng, size, head_ages)
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
            id_region = region if relation in ("子", "女") or rng.random() < 0.8 else rng.choice(_REGIONS)
            while True:
                # GB 11643 §4.3: the sequence is odd for men and even for women.
                sequence = rng.randint(0, 499) * 2 + (1 if gender == "男" else 0)
                resident_id = make_resident_id(id_region.code, birth, sequence)
                if resident_id not in used:
                    break
            used.add(resident_id)
            persons.append(
                _Person(
                    resident_id, surname + given, gender, birth, ethnicity, address, household_no, relation
                )
            )
        household += 1
    return persons


def _build_enterprises(
    rng: random.Random, fake: Faker, count: int, adults: Sequence[_Person]
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    used_names: set[str] = set()
    for index in range(count):
        region = rng.choice(_REGIONS)
        rep = rng.choice(adults)
        # Index 0 is the demo enterprise: an ordinary company in business.
        sole_trader = index > 0 and rng.random() < 0.15
        status = "存续" if index == 0 else _weighted(rng, _LICENCE_STATUSES)
        established = _between(rng, max(datetime.date(2000, 1, 1), _add_years(rep.birth_date, 18)), AS_OF)
        # GB 32100: authority 9 is market regulation; entity type 1 is an enterprise, 2 a sole trader.
        uscc = make_uscc("9", "2" if sole_trader else "1", region.code, _org_code(rng, established))
        if sole_trader:
            shop, scope = rng.choice(_SHOPS)
            name = f"{region.locality}{rep.name[0]}记{shop}"
            kind, capital = "个体工商户", f"{rng.choice((1, 3, 5, 10))}万元人民币"
        else:
            industry, scope = rng.choice(_INDUSTRIES)
            name = f"{region.city}{_trade_name(fake)}{industry}有限公司"
            kind = rng.choice(_COMPANY_TYPES)
            capital = f"{rng.choice((10, 50, 100, 200, 500, 1000, 3000))}万元人民币"
        # Same-named registrations are refused by the register, so number a repeat like a branch.
        base, suffix = name, 2
        while name in used_names:
            name, suffix = f"{base}（{suffix}）", suffix + 1
        used_names.add(name)
        address = f"{region.prefix}{fake.street_name()}{rng.randint(1, 999)}号{rng.randint(1, 30)}层"
        rows.append(
            (
                uscc,
                name,
                rep.name,
                rep.resident_id,
                kind,
                capital,
                established.isoformat(),
                scope,
                address,
                status,
            )
        )
    return rows


def _build_insured(
    rng: random.Random,
    adults: Sequence[_Person],
    employers: Sequence[tuple[object, ...]],
    skip: str,
    keep: str,
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for person in adults:
        insured = rng.random() < 0.7
        if person.resident_id == skip or (person.resident_id != keep and not insured):
            continue
        status = "参保缴费" if person.resident_id == keep else _weighted(rng, _SI_STATUSES)
        # Passed as text with two decimals; NUMERIC affinity stores it as REAL (INTEGER when whole),
        # which reads back with the same two decimals.
        base = f"{rng.randint(300_000, 3_500_000) / 100:.2f}"
        # Contributions start at 18 at the earliest and stop at retirement, taken here as 60.
        working_months = max(1, (min(_age(person.birth_date), 60) - 18) * 12)
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


@functools.lru_cache(maxsize=8)
def _build(seed: int, persons: int, enterprises: int) -> _Dataset:
    if persons < 5 or enterprises < 1:
        raise ValueError("need at least 5 persons (the demo household and one more) and 1 enterprise")
    rng = random.Random(seed)  # noqa: S311 -- synthetic data must be reproducible, not secret
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    people = _build_persons(rng, fake, persons)
    adults = [person for person in people if _age(person.birth_date) >= 18]
    licences = _build_enterprises(rng, fake, enterprises, adults)
    in_business = [row for row in licences if row[9] == "存续"]
    demo_person = people[0].resident_id
    only_in_psb = next(person for person in people[1:] if person.relation_to_head == "户主")
    insured = _build_insured(rng, adults, in_business, only_in_psb.resident_id, demo_person)
    known = {person.resident_id for person in people}
    while True:
        region = rng.choice(_REGIONS)
        birth = _between(rng, datetime.date(1960, 1, 1), datetime.date(2000, 12, 31))
        unknown = make_resident_id(region.code, birth, rng.randint(0, 999))
        if unknown not in known:
            break
    subjects = SampleSubjects(
        demo_person=demo_person,
        person_only_in_psb=only_in_psb.resident_id,
        unknown_person=unknown,
        demo_enterprise=str(licences[0][0]),
        all_persons=tuple(person.resident_id for person in people),
        all_enterprises=tuple(str(row[0]) for row in licences),
    )
    hukou = tuple(
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
    return _Dataset(hukou, tuple(insured), tuple(licences), subjects)


_SCHEMAS = {
    "psb.sqlite": (
        "hukou_person",
        "CREATE TABLE hukou_person (resident_id TEXT PRIMARY KEY, name TEXT NOT NULL, gender TEXT NOT NULL, "
        "birth_date TEXT NOT NULL, ethnicity TEXT NOT NULL, registered_address TEXT NOT NULL, "
        "household_no TEXT NOT NULL, relation_to_head TEXT NOT NULL);"
        "CREATE INDEX hukou_person_household_no ON hukou_person (household_no);",
    ),
    "hrss.sqlite": (
        "si_insured",
        "CREATE TABLE si_insured (resident_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "insurance_status TEXT NOT NULL, contribution_base NUMERIC NOT NULL, months_paid INTEGER NOT NULL, "
        "employer_name TEXT, employer_uscc TEXT);",
    ),
    "amr.sqlite": (
        "business_licence",
        "CREATE TABLE business_licence (uscc TEXT PRIMARY KEY, name TEXT NOT NULL, "
        "legal_representative TEXT NOT NULL, legal_rep_id TEXT NOT NULL, enterprise_type TEXT NOT NULL, "
        "registered_capital TEXT NOT NULL, established_on TEXT NOT NULL, business_scope TEXT NOT NULL, "
        "address TEXT NOT NULL, status TEXT NOT NULL);",
    ),
}


def _write_atomically(
    path: pathlib.Path, schema: str, table: str, rows: Sequence[tuple[object, ...]]
) -> None:
    # Build beside the target and rename over it, so a connector never opens a half-written file.
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        connection = sqlite3.connect(temp_name)
        try:
            with connection:
                connection.executescript(schema)
                if rows:
                    placeholders = ", ".join("?" * len(rows[0]))
                    # The table name comes from _SCHEMAS, never from input.
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
    """Create or atomically re-create psb.sqlite, hrss.sqlite and amr.sqlite in directory."""
    dataset = _build(seed, persons, enterprises)
    directory.mkdir(parents=True, exist_ok=True)
    tables = {
        "psb.sqlite": dataset.hukou_person,
        "hrss.sqlite": dataset.si_insured,
        "amr.sqlite": dataset.business_licence,
    }
    # Each file is replaced atomically on its own; the three are not one transaction.
    for filename, (table, schema) in _SCHEMAS.items():
        _write_atomically(directory / filename, schema, table, tables[filename])
    return dataset.subjects


def sample_subjects(*, seed: int = DEFAULT_SEED, persons: int = 300, enterprises: int = 80) -> SampleSubjects:
    """The same subjects generate() would write, without touching disk."""
    return _build(seed, persons, enterprises).subjects

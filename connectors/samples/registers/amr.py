"""市场监管局 (amr) business licences: enterprises and sole traders with valid USCCs (GB 32100)."""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence

from faker import Faker

from connectors.samples.people import AS_OF, REGIONS, Person, add_years, between, weighted
from protocol.identifiers import USCC_CHARSET, make_uscc

SCHEMA = (
    "CREATE TABLE business_licence (uscc TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "legal_representative TEXT NOT NULL, legal_rep_id TEXT NOT NULL, enterprise_type TEXT NOT NULL, "
    "registered_capital TEXT NOT NULL, established_on TEXT NOT NULL, business_scope TEXT NOT NULL, "
    "address TEXT NOT NULL, status TEXT NOT NULL);"
)
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


def build_enterprises(
    rng: random.Random, fake: Faker, count: int, adults: Sequence[Person]
) -> list[tuple[object, ...]]:
    """Rows of business_licence; the first is the demo enterprise, an ordinary company in business."""
    rows: list[tuple[object, ...]] = []
    used_names: set[str] = set()
    for index in range(count):
        region = rng.choice(REGIONS)
        rep = rng.choice(adults)
        # Index 0 is the demo enterprise: an ordinary company in business.
        sole_trader = index > 0 and rng.random() < 0.15
        status = "存续" if index == 0 else weighted(rng, _LICENCE_STATUSES)
        established = between(rng, max(datetime.date(2000, 1, 1), add_years(rep.birth_date, 18)), AS_OF)
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

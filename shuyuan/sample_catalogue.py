"""The sample registry: departments, elements, service items and agreements of SCENARIOS.md.

Codes are stable: the demo, the tests and the benchmarks name them.
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from protocol.clock import utcnow
from registry.actors import Actor
from registry.agreements import service as agreements
from registry.agreements.models import AgreementCreate
from registry.db import unit_of_work
from registry.departments import service as departments
from registry.departments.models import DepartmentCreate
from registry.elements import service as elements
from registry.elements.models import ElementCreate, Sensitivity, SharingType, SubjectTypeField, ValueType
from registry.event_types import service as event_types
from registry.event_types.models import EventTypeCreate
from registry.keys import service as keys_service
from registry.keys.models import KeyCreate
from registry.service_items import service as service_items
from registry.service_items.models import MaterialIn, ServiceItemCreate
from registry.subscriptions import service as subscriptions
from registry.subscriptions.models import Condition, SubscriptionCreate

if TYPE_CHECKING:
    from connectors.keys import DepartmentKeys

DEPARTMENTS = [
    ("psb", "公安局", "Public Security Bureau"),
    ("hrss", "人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    ("amr", "市场监督管理局", "Administration for Market Regulation"),
    ("xzsp", "行政审批局", "Administrative Approval Bureau"),
    ("zjj", "住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    # Receives food-business licences by event (SCENARIOS.md A); no source, no consumer of queries.
    ("fso", "食品安全委员会办公室", "Food Safety Office"),
]

P: SubjectTypeField = "person"
E: SubjectTypeField = "enterprise"
# code, zh, en, subject, source, value type, sensitivity, sharing type
ELEMENTS: list[tuple[str, str, str, SubjectTypeField, str, ValueType, Sensitivity, SharingType]] = [
    ("person.name", "姓名", "Name", P, "psb", "string", "sensitive_personal", "unconditional"),
    ("person.gender", "性别", "Gender", P, "psb", "string", "sensitive_personal", "unconditional"),
    (
        "person.birth_date",
        "出生日期",
        "Date of birth",
        P,
        "psb",
        "date",
        "sensitive_personal",
        "unconditional",
    ),
    ("person.ethnicity", "民族", "Ethnicity", P, "psb", "string", "sensitive_personal", "unconditional"),
    (
        "person.registered_address",
        "户籍地址",
        "Registered address",
        P,
        "psb",
        "string",
        "sensitive_personal",
        "unconditional",
    ),
    (
        "person.household_members",
        "户成员",
        "Household members",
        P,
        "psb",
        "json",
        "sensitive_personal",
        "unconditional",
    ),
    (
        "person.criminal_record",
        "违法犯罪记录",
        "Criminal record",
        P,
        "psb",
        "json",
        "restricted",
        "not_shared",
    ),
    (
        "person.si_status",
        "参保状态",
        "Social insurance status",
        P,
        "hrss",
        "string",
        "internal",
        "unconditional",
    ),
    (
        "person.si_contribution_base",
        "缴费基数",
        "Contribution base",
        P,
        "hrss",
        "number",
        "sensitive_personal",
        "conditional",
    ),
    (
        "person.si_months_paid",
        "累计缴费月数",
        "Months of contributions",
        P,
        "hrss",
        "integer",
        "sensitive_personal",
        "conditional",
    ),
    ("person.employer_name", "参保单位", "Employer", P, "hrss", "string", "internal", "unconditional"),
    ("enterprise.name", "企业名称", "Enterprise name", E, "amr", "string", "public", "unconditional"),
    (
        "enterprise.legal_representative",
        "法定代表人",
        "Legal representative",
        E,
        "amr",
        "string",
        "public",
        "unconditional",
    ),
    ("enterprise.type", "企业类型", "Enterprise type", E, "amr", "string", "public", "unconditional"),
    (
        "enterprise.registered_capital",
        "注册资本",
        "Registered capital",
        E,
        "amr",
        "string",
        "public",
        "unconditional",
    ),
    (
        "enterprise.established_on",
        "成立日期",
        "Date established",
        E,
        "amr",
        "date",
        "public",
        "unconditional",
    ),
    (
        "enterprise.business_scope",
        "经营范围",
        "Business scope",
        E,
        "amr",
        "string",
        "public",
        "unconditional",
    ),
    ("enterprise.address", "住所", "Registered address", E, "amr", "string", "public", "unconditional"),
    ("enterprise.status", "登记状态", "Registration status", E, "amr", "string", "public", "unconditional"),
]

# The registered shape of a value: the source checks it before signing, the consumer after decrypting.
_DATE = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    "person.name": {"type": "string", "minLength": 1, "maxLength": 50},
    "person.gender": {"type": "string", "enum": ["男", "女"]},
    "person.birth_date": _DATE,
    "person.household_members": {
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["name", "relation", "birth_date"],
            "properties": {"name": {"type": "string"}, "relation": {"type": "string"}, "birth_date": _DATE},
        },
    },
    "person.si_contribution_base": {"type": "number", "minimum": 0},
    "person.si_months_paid": {"type": "integer", "minimum": 0},
    "enterprise.established_on": _DATE,
    "enterprise.status": {"type": "string", "enum": ["存续", "注销", "吊销"]},
}

HOUSING_ITEM = "330100-GZF-001"
SOLE_TRADER_ITEM = "330100-GTH-001"
FOOD_LICENCE_ITEM = "330100-SPJY-001"

# The seed is the platform's own steward work (service items are a steward's operation, issue 9).
SEED_STEWARD = Actor(name="sample-catalogue", steward=True)

# `participants`: the departments besides the handler that take part in an item and so may query
# for it (DESIGN.md §6). Each sample item is handled end to end by one department, which asks the
# sources itself; the sources (psb, hrss, amr) answer but do not query, and amr only *receives*
# `license.issued` (双告知), which is a subscription, not a query. So none has a participant.
SERVICE_ITEMS: list[dict[str, Any]] = [
    {
        "code": HOUSING_ITEM,
        "name": "公共租赁住房申请",
        "handling_department": "zjj",
        "participants": [],  # 住建局 alone (SCENARIOS.md C)
        "materials": [
            {"name": "申请人身份证复印件", "elements": ["person.name", "person.registered_address"]},
            {"name": "户口簿复印件", "elements": ["person.household_members"]},
            {
                "name": "收入证明",
                "elements": [
                    "person.si_status",
                    "person.si_contribution_base",
                    "person.si_months_paid",
                    "person.employer_name",
                ],
            },
        ],
    },
    {
        "code": SOLE_TRADER_ITEM,
        "name": "个体工商户设立登记",
        "handling_department": "xzsp",
        "participants": [],  # 行政审批局 alone; 市场监管 is told by event (SCENARIOS.md A)
        "materials": [
            {
                "name": "经营者身份证复印件",
                "elements": [
                    "person.name",
                    "person.gender",
                    "person.birth_date",
                    "person.registered_address",
                ],
            },
        ],
    },
    {
        "code": FOOD_LICENCE_ITEM,
        "name": "食品经营许可",
        "handling_department": "xzsp",
        "participants": [],  # 行政审批局 alone; the food-safety office is told by event
        "materials": [
            {
                "name": "营业执照副本",
                "elements": [
                    "enterprise.name",
                    "enterprise.legal_representative",
                    "enterprise.status",
                    "enterprise.address",
                    "enterprise.business_scope",
                ],
            },
        ],
    },
]

# 住建局 holds agreements for the income proxies, for public rental housing only (SCENARIOS.md C).
AGREEMENTS = [
    ("zjj", "person.si_contribution_base", HOUSING_ITEM, "《公共租赁住房管理办法》第七条"),
    ("zjj", "person.si_months_paid", HOUSING_ITEM, "《公共租赁住房管理办法》第七条"),
]

LICENSE_ISSUED = "license.issued"
INSPECTION_RESULT = "inspection.result"
# code, name, source, payload schema, routing fields (审管互动 双告知: approval tells supervision, and back).
EVENT_TYPES: list[tuple[str, str, str, dict[str, Any], list[str]]] = [
    (
        LICENSE_ISSUED,
        "许可证核发",
        "xzsp",
        {
            "type": "object",
            "properties": {
                "licence_no": {"type": "string", "minLength": 1, "maxLength": 64},
                "licence_type": {"type": "string", "enum": ["business_licence", "food_business_licence"]},
                "enterprise_name": {"type": "string", "minLength": 1, "maxLength": 200},
                "business_scope": {"type": "string", "maxLength": 500},
                "issued_on": {"type": "string", "format": "date"},
            },
            "required": ["licence_no", "licence_type", "enterprise_name", "business_scope", "issued_on"],
            "additionalProperties": False,
        },
        ["business_scope", "licence_type"],
    ),
    (
        INSPECTION_RESULT,
        "检查结果",
        "amr",
        {
            "type": "object",
            "properties": {
                "inspection_no": {"type": "string", "minLength": 1, "maxLength": 64},
                "result": {"type": "string", "enum": ["pass", "rectify", "penalty"]},
                "findings": {"type": "string", "maxLength": 2000},
            },
            "required": ["inspection_no", "result"],
            "additionalProperties": False,
        },
        ["result"],
    ),
]
# subscriber, source, event types, conditions: 市场监管 hears of every licence, the food-safety office
# of food businesses only; the approval bureau hears the inspections' results back.
SUBSCRIPTIONS: list[tuple[str, str, list[str], list[Condition]]] = [
    ("amr", "xzsp", [LICENSE_ISSUED], []),
    ("fso", "xzsp", [LICENSE_ISSUED], [Condition(field="business_scope", op="contains", value="食品")]),
    ("xzsp", "amr", [INSPECTION_RESULT], []),
]


def seed(engine: Engine, *, department_suffix: str = "") -> bool:
    """Load the sample registry into an empty database; returns False if it was already there.

    `department_suffix` renames every department (psb -> psb_x1), so several copies of the sample
    can share one broker without sharing topics.
    """

    def dept(code: str) -> str:
        return f"{code}{department_suffix}"

    with unit_of_work(engine) as session:
        if departments.get_by_code(session=session, code=dept("psb")) is not None:
            return False
        for code, name, name_en in DEPARTMENTS:
            departments.create(
                session=session,
                department_in=DepartmentCreate(code=dept(code), name=name, name_en=name_en),
                actor=SEED_STEWARD,
            )
        for code, zh, en, subject, source, value_type, sensitivity, sharing in ELEMENTS:
            element_in = ElementCreate(
                code=code,
                name_zh=zh,
                name_en=en,
                subject_type=subject,
                source=dept(source),
                value_type=value_type,
                sensitivity=sensitivity,
                sharing_type=sharing,
                status="standard",
                value_schema=VALUE_SCHEMAS.get(code),
            )
            elements.create(session=session, element_in=element_in, actor=SEED_STEWARD)
        for item in SERVICE_ITEMS:
            item_in = ServiceItemCreate(
                code=item["code"],
                name=item["name"],
                handling_department=dept(item["handling_department"]),
                participants=[dept(p) for p in item["participants"]],
                materials=[MaterialIn(**m) for m in item["materials"]],
            )
            service_items.create(session=session, item_in=item_in, actor=SEED_STEWARD)
        now = utcnow()
        for consumer, element, item_code, basis in AGREEMENTS:
            agreement_in = AgreementCreate(
                consumer=dept(consumer),
                element=element,
                service_item=item_code,
                legal_basis=basis,
                valid_from=now - timedelta(days=1),
                valid_until=now + timedelta(days=365),
                status="approved",
            )
            agreements.create(session=session, agreement_in=agreement_in, actor=SEED_STEWARD)
        for code, name, source, schema, routing in EVENT_TYPES:
            type_in = EventTypeCreate(
                code=code, name=name, source=dept(source), payload_schema=schema, routing_fields=routing
            )
            event_types.create(session=session, event_type_in=type_in, actor=SEED_STEWARD)
        for subscriber, source, types, conditions in SUBSCRIPTIONS:
            subscription_in = SubscriptionCreate(
                subscriber=dept(subscriber), source=dept(source), event_types=types, conditions=conditions
            )
            subscriptions.create(session=session, subscription_in=subscription_in, actor=SEED_STEWARD)
    return True


def register_keys(engine: Engine, department_keys: Iterable["DepartmentKeys"]) -> int:
    """Register departments' public JWKs unless already there (idempotent); returns how many were added.

    Only the public halves reach the registry; the private keys stay in each department's key folder.
    """
    added = 0
    with unit_of_work(engine) as session:
        for dept_keys in department_keys:
            dept = departments.get_by_code_or_raise(session=session, code=dept_keys.department)
            assert dept.id is not None, "a department read from the database has an id"
            for jwk in dept_keys.public_jwks():
                if keys_service.get(session=session, department_id=dept.id, kid=jwk["kid"]) is None:
                    key_in = KeyCreate(use=jwk["use"], jwk=jwk)
                    keys_service.register(
                        session=session, department=dept_keys.department, key_in=key_in, actor=SEED_STEWARD
                    )
                    added += 1
    return added

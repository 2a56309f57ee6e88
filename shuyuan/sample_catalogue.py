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
from registry.elements.models import ElementCreate
from registry.event_types import service as event_types
from registry.event_types.models import EventTypeCreate
from registry.keys import service as keys_service
from registry.keys.models import KeyCreate
from registry.service_items import service as service_items
from registry.service_items.models import MaterialIn, ServiceItemCreate, StepIn, SubjectRoleIn
from registry.subscriptions import service as subscriptions
from registry.subscriptions.models import Condition, SubscriptionCreate
from shuyuan.sample_elements import ELEMENTS as ELEMENTS  # re-exported: tests and the demo read them here
from shuyuan.sample_elements import VALUE_SCHEMAS as VALUE_SCHEMAS

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
    # The sources SCENARIOS.md A, B and C add (issue 12): each answers from its own register.
    ("bdc", "不动产登记中心", "Real Estate Registration Center"),
    ("court", "人民法院", "People's Court"),
    ("mzj", "民政局", "Civil Affairs Bureau"),
    ("wjw", "卫生健康委员会", "Health Commission"),
    ("ybj", "医疗保障局", "Healthcare Security Administration"),
]


HOUSING_ITEM = "330100-GZF-001"
SOLE_TRADER_ITEM = "330100-GTH-001"
FOOD_LICENCE_ITEM = "330100-SPJY-001"
NEWBORN_ITEM = "330100-XSE-001"
NEWBORN_PARENT_ID = ["person.name", "person.registered_address"]
NEWBORN_CHILD_HUKOU = ["person.name", "person.gender", "person.birth_date", "person.registered_address"]

# The seed is the platform's own steward work (service items are a steward's operation, issue 9).
SEED_STEWARD = Actor(name="sample-catalogue", steward=True)

# `participants`: the departments besides the handler that take part in an item and so may query
# for it (DESIGN.md §6). Housing, sole-trader and food licences are handled end to end by one
# department, which asks the sources itself; amr only *receives* `license.issued` (双告知), which is a
# subscription, not a query. The newborn bundle (一件事) is handled by psb with the three departments
# whose own steps it joins (SCENARIOS.md B).
SERVICE_ITEMS: list[dict[str, Any]] = [
    {
        "code": HOUSING_ITEM,
        "name": "公共租赁住房申请",
        "handling_department": "zjj",
        "participants": [],  # 住建局 alone (SCENARIOS.md C)
        "materials": [
            {"name": "申请人身份证复印件", "elements": ["person.name", "person.registered_address"]},
            {"name": "户口簿复印件", "elements": ["person.household_members"]},
            {"name": "房产情况", "elements": ["person.property_records"]},
            {"name": "婚姻状况证明", "elements": ["person.marital_status"]},
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
            {
                "name": "经营场所使用证明",
                "elements": [
                    "person.property_certificate_no",
                    "person.property_address",
                    "person.property_owner",
                ],
            },
            # Not a paper the applicant brought: the bureau checks it (信用惩戒, SCENARIOS.md A).
            {"name": "失信被执行人核查", "elements": ["person.dishonest_debtor"]},
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
    {
        "code": NEWBORN_ITEM,
        "name": "新生儿出生一件事",
        "handling_department": "psb",
        # One application, four departments (SCENARIOS.md B): psb takes it in and registers the birth
        # (户口登记); wjw confirms the mother's delivery record (出生医学证明); ybj enrols the child
        # (医保参保); hrss issues the social security card (社保卡). Each step's department reads only
        # its own step's materials (registry/policy.py); psb as handler also the intake ones (no step).
        "participants": ["wjw", "ybj", "hrss"],
        "subjects": [
            {"role": "mother", "subject_type": "person", "name": "母亲"},
            {"role": "father", "subject_type": "person", "name": "父亲"},
            {"role": "child", "subject_type": "person", "name": "新生儿"},
        ],
        "materials": [
            {"name": "母亲身份证", "subject_role": "mother", "elements": NEWBORN_PARENT_ID},
            {"name": "父亲身份证", "subject_role": "father", "elements": NEWBORN_PARENT_ID},
            {
                "name": "结婚证",
                "subject_role": "mother",
                "elements": ["person.marital_status", "person.spouse_name"],
            },
            {"name": "出生医学证明", "subject_role": "child", "elements": ["person.birth_record"]},
            {
                "name": "产妇身份信息",
                "subject_role": "mother",
                "elements": ["person.name", "person.birth_date"],
            },
            {"name": "新生儿出生信息", "subject_role": "child", "elements": ["person.birth_record"]},
            {"name": "新生儿户籍信息", "subject_role": "child", "elements": NEWBORN_CHILD_HUKOU},
            {
                "name": "医保参保证明",
                "subject_role": "child",
                "elements": ["person.medical_insurance_status"],
            },
            {
                "name": "新生儿身份信息",
                "subject_role": "child",
                "elements": ["person.name", "person.gender", "person.birth_date"],
            },
        ],
        "steps": [
            {
                "code": "hukou",
                "name": "户口登记",
                "department": "psb",
                "materials": ["结婚证", "出生医学证明"],
            },
            {"code": "birth", "name": "出生医学证明", "department": "wjw", "materials": ["产妇身份信息"]},
            {
                "code": "insurance",
                "name": "医保参保",
                "department": "ybj",
                "materials": ["新生儿出生信息", "新生儿户籍信息"],
            },
            {
                "code": "card",
                "name": "社保卡申领",
                "department": "hrss",
                "materials": ["医保参保证明", "新生儿身份信息"],
            },
        ],
    },
]

_HOUSING_BASIS = "《公共租赁住房管理办法》第七条"
_SOLE_TRADER_BASIS = "《市场主体登记管理条例》第十六条（住所或者主要经营场所相关文件）"
_CREDIT_BASIS = "《最高人民法院关于公布失信被执行人名单信息的若干规定》（行政审批、市场准入中的信用惩戒）"
_NEWBORN_BASIS = (
    "《国务院关于进一步优化政务服务提升行政效能推动“高效办成一件事”的指导意见》（国发〔2024〕3号）"
)
# consumer, element, service item, legal basis: every conditional element an item needs, for the
# department that asks for it, and for that item only (SCENARIOS.md C: another purpose is
# `not_necessary_for_purpose`).
AGREEMENTS = [
    # 住建局: income proxies, property and marital status, for public rental housing (C).
    ("zjj", "person.si_contribution_base", HOUSING_ITEM, _HOUSING_BASIS),
    ("zjj", "person.si_months_paid", HOUSING_ITEM, _HOUSING_BASIS),
    ("zjj", "person.property_records", HOUSING_ITEM, _HOUSING_BASIS),
    ("zjj", "person.marital_status", HOUSING_ITEM, _HOUSING_BASIS),
    # 行政审批局: the proof of premises and the dishonest-debtor check, for sole traders (A).
    ("xzsp", "person.property_certificate_no", SOLE_TRADER_ITEM, _SOLE_TRADER_BASIS),
    ("xzsp", "person.property_address", SOLE_TRADER_ITEM, _SOLE_TRADER_BASIS),
    ("xzsp", "person.property_owner", SOLE_TRADER_ITEM, _SOLE_TRADER_BASIS),
    ("xzsp", "person.dishonest_debtor", SOLE_TRADER_ITEM, _CREDIT_BASIS),
    # The newborn bundle (B), per step: psb registers the birth (marriage and birth certificates),
    # ybj enrols the child (its birth record), hrss issues the card (its medical insurance enrolment).
    ("psb", "person.marital_status", NEWBORN_ITEM, _NEWBORN_BASIS),
    ("psb", "person.spouse_name", NEWBORN_ITEM, _NEWBORN_BASIS),
    ("psb", "person.birth_record", NEWBORN_ITEM, _NEWBORN_BASIS),
    ("ybj", "person.birth_record", NEWBORN_ITEM, _NEWBORN_BASIS),
    ("hrss", "person.medical_insurance_status", NEWBORN_ITEM, _NEWBORN_BASIS),
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
        for e in ELEMENTS:
            element_in = ElementCreate(
                code=e.code,
                name_zh=e.name_zh,
                name_en=e.name_en,
                definition=e.definition,
                subject_type=e.subject_type,
                source=dept(e.source),
                value_type=e.value_type,
                sensitivity=e.sensitivity,
                grade=e.grade,
                grade_basis=e.grade_basis,
                sharing_type=e.sharing_type,
                sharing_conditions=e.sharing_conditions,
                status="standard",
                value_schema=VALUE_SCHEMAS.get(e.code),
            )
            elements.create(session=session, element_in=element_in, actor=SEED_STEWARD)
        for item in SERVICE_ITEMS:
            item_in = ServiceItemCreate(
                code=item["code"],
                name=item["name"],
                handling_department=dept(item["handling_department"]),
                participants=[dept(p) for p in item["participants"]],
                materials=[MaterialIn(**m) for m in item["materials"]],
                subjects=[SubjectRoleIn(**r) for r in item.get("subjects", [])],
                steps=[
                    StepIn(**(st | {"department": dept(st["department"])})) for st in item.get("steps", [])
                ],
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

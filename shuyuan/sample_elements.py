"""The sample data elements: source, sharing type, sensitivity and data grade, each grade with its reason.

Grades follow 数据安全法 第二十一条 (数据分类分级保护) and GB/T 43697-2024《数据安全技术 数据分类分级
规则》: a grade is decided from whom a leak or misuse would harm and how much (影响对象、影响程度), never
left at a default; `grade_basis` records that decision. Sensitivity follows 个人信息保护法 第二十八条 and
GB/T 35273-2020 附录B (个人敏感信息). docs/sample-data.md lists them all.
"""

from dataclasses import dataclass
from typing import Any

from registry.elements.models import DataGrade, Sensitivity, SharingType, SubjectTypeField, ValueType

_GB_43697 = "GB/T 43697-2024《数据安全技术 数据分类分级规则》"
_ONE_PERSON = (
    f"一般数据：按个案、按单个自然人查询共享的个人信息，泄露或滥用影响的是个人权益，不直接危害国家安全、"
    f"经济运行、社会秩序或公共利益（数据安全法 第二十一条；{_GB_43697} 按影响对象与影响程度定级）"
)
# The first sample elements' grades, unchanged, now with their reasons.
IDENTITY_BASIS = _ONE_PERSON + "；身份信息属敏感个人信息，另由敏感级别标注（个人信息保护法 第二十八条）"
SOCIAL_INSURANCE_BASIS = _ONE_PERSON + "；缴费数据按协议限定用途"
CRIMINAL_RECORD_BASIS = (
    "重要数据：公安机关掌握的违法犯罪记录，汇聚后被泄露或篡改可能危害社会秩序和公共安全（数据安全法 "
    f"第二十一条；{_GB_43697} 重要数据识别）；属特定身份敏感个人信息（个人信息保护法 第二十八条），不予共享"
)
ENTERPRISE_BASIS = (
    "一般数据：企业登记信息依《企业信息公示暂行条例》向社会公示，共享不扩大其影响"
    f"（数据安全法 第二十一条；{_GB_43697}）"
)
PROPERTY_BASIS = (
    _ONE_PERSON + "；不动产登记信息属个人财产信息，为敏感个人信息（GB/T 35273-2020 附录B；个人信息保护法 "
    "第二十八条），有关国家机关依法查询（不动产登记暂行条例 第二十七条）"
)
DISHONEST_BASIS = (
    "一般数据：失信被执行人名单由人民法院依《最高人民法院关于公布失信被执行人名单信息的若干规定》向社会"
    f"公布，共享标记不扩大其影响（数据安全法 第二十一条；{_GB_43697}）；按该规定限于信用惩戒等法定用途，"
    "故敏感级别为受限、有条件共享"
)
MARITAL_BASIS = (
    _ONE_PERSON + "；婚姻状况涉及特定身份与家庭关系，按敏感个人信息保护（个人信息保护法 第二十八条）"
)
BIRTH_BASIS = (
    _ONE_PERSON + "；出生医学证明含健康生理信息（GB/T 35273-2020 附录B）且为不满十四周岁未成年人的个人信息"
    "（个人信息保护法 第二十八条）"
)
MEDICAL_INSURANCE_BASIS = (
    _ONE_PERSON + "；参保状态属医疗保障信息，与医疗健康相关，且在新生儿“一件事”中为不满十四周岁未成年人的"
    "个人信息，按敏感个人信息保护（个人信息保护法 第二十八条）；不含病历、诊疗或费用明细"
)
CARD_BASIS = (
    _ONE_PERSON
    + "；社会保障卡具金融账户功能，且向未成年人发放，按敏感个人信息保护（个人信息保护法 第二十八条）"
)
_AGREED_USE = "凭已批准的共享协议，仅限协议载明的服务事项使用"


@dataclass(frozen=True)
class SampleElement:
    """One element of the sample catalogue, as the seed registers it."""

    code: str
    name_zh: str
    name_en: str
    subject_type: SubjectTypeField
    source: str
    value_type: ValueType
    sensitivity: Sensitivity
    sharing_type: SharingType
    grade: DataGrade
    grade_basis: str
    definition: str = ""
    sharing_conditions: str = ""


P: SubjectTypeField = "person"
E: SubjectTypeField = "enterprise"
_SENSITIVE: Sensitivity = "sensitive_personal"


def _psb(code: str, zh: str, en: str, value_type: ValueType = "string") -> SampleElement:
    return SampleElement(
        code, zh, en, P, "psb", value_type, _SENSITIVE, "unconditional", "general", IDENTITY_BASIS
    )


def _amr(code: str, zh: str, en: str, value_type: ValueType = "string") -> SampleElement:
    return SampleElement(
        code, zh, en, E, "amr", value_type, "public", "unconditional", "general", ENTERPRISE_BASIS
    )


def _hrss(
    code: str, zh: str, en: str, value_type: ValueType, sensitivity: Sensitivity, sharing: SharingType
) -> SampleElement:
    return SampleElement(
        code, zh, en, P, "hrss", value_type, sensitivity, sharing, "general", SOCIAL_INSURANCE_BASIS
    )


# code, zh, en, value type, definition of the real-estate registry's elements.
_PROPERTY: tuple[tuple[str, str, str, ValueType, str], ...] = (
    (
        "person.property_certificate_no",
        "不动产权证号",
        "Property certificate number",
        "string",
        "本人名下最近登记的不动产权证书号；名下无登记不动产时无此值",
    ),
    (
        "person.property_address",
        "房屋坐落",
        "Property address",
        "string",
        "本人名下最近登记的不动产的坐落",
    ),
    (
        "person.property_owner",
        "权利人",
        "Property owner(s)",
        "string",
        "本人名下最近登记的不动产的全部权利人，按登记簿记载，以顿号分隔",
    ),
    (
        "person.property_records",
        "不动产登记信息",
        "Registered properties",
        "json",
        "本人名下全部登记的不动产；名下无登记不动产时为空列表（不动产登记簿只记载不动产，无从“不知道某人”）",
    ),
)


ELEMENTS: list[SampleElement] = [
    _psb("person.name", "姓名", "Name"),
    _psb("person.gender", "性别", "Gender"),
    _psb("person.birth_date", "出生日期", "Date of birth", "date"),
    _psb("person.ethnicity", "民族", "Ethnicity"),
    _psb("person.registered_address", "户籍地址", "Registered address"),
    _psb("person.household_members", "户成员", "Household members", "json"),
    SampleElement(
        "person.criminal_record",
        "违法犯罪记录",
        "Criminal record",
        P,
        "psb",
        "json",
        "restricted",
        "not_shared",
        "important",
        CRIMINAL_RECORD_BASIS,
    ),
    _hrss("person.si_status", "参保状态", "Social insurance status", "string", "internal", "unconditional"),
    _hrss(
        "person.si_contribution_base", "缴费基数", "Contribution base", "number", _SENSITIVE, "conditional"
    ),
    _hrss(
        "person.si_months_paid",
        "累计缴费月数",
        "Months of contributions",
        "integer",
        _SENSITIVE,
        "conditional",
    ),
    _hrss("person.employer_name", "参保单位", "Employer", "string", "internal", "unconditional"),
    SampleElement(
        "person.social_security_card_status",
        "社保卡状态",
        "Social security card status",
        P,
        "hrss",
        "string",
        _SENSITIVE,
        "conditional",
        "general",
        CARD_BASIS,
        definition="社会保障卡的申领与使用状态：未申领、已制卡、正常、挂失",
        sharing_conditions=_AGREED_USE,
    ),
    _amr("enterprise.name", "企业名称", "Enterprise name"),
    _amr("enterprise.legal_representative", "法定代表人", "Legal representative"),
    _amr("enterprise.type", "企业类型", "Enterprise type"),
    _amr("enterprise.registered_capital", "注册资本", "Registered capital"),
    _amr("enterprise.established_on", "成立日期", "Date established", "date"),
    _amr("enterprise.business_scope", "经营范围", "Business scope"),
    _amr("enterprise.address", "住所", "Registered address"),
    _amr("enterprise.status", "登记状态", "Registration status"),
    *(
        SampleElement(
            code,
            zh,
            en,
            P,
            "bdc",
            value_type,
            _SENSITIVE,
            "conditional",
            "general",
            PROPERTY_BASIS,
            definition=definition,
            sharing_conditions=_AGREED_USE,
        )
        for code, zh, en, value_type, definition in _PROPERTY
    ),
    *(
        SampleElement(
            f"{subject}.dishonest_debtor",
            "失信被执行人标记",
            "Dishonest judgment debtor",
            subject,
            "court",
            "boolean",
            "restricted",
            "conditional",
            "general",
            DISHONEST_BASIS,
            definition="是否在失信被执行人名单中；名单外的主体为 false（名单对任何主体都有答案）",
            sharing_conditions=_AGREED_USE,
        )
        for subject in (P, E)
    ),
    SampleElement(
        "person.marital_status",
        "婚姻状况",
        "Marital status",
        P,
        "mzj",
        "string",
        _SENSITIVE,
        "conditional",
        "general",
        MARITAL_BASIS,
        definition="婚姻登记记载的婚姻状况：未婚、已婚、离婚、丧偶",
        sharing_conditions=_AGREED_USE,
    ),
    SampleElement(
        "person.spouse_name",
        "配偶姓名",
        "Spouse's name",
        P,
        "mzj",
        "string",
        _SENSITIVE,
        "conditional",
        "general",
        MARITAL_BASIS,
        definition="已婚者的配偶姓名；未婚、离婚、丧偶者无此值",
        sharing_conditions=_AGREED_USE,
    ),
    SampleElement(
        "person.birth_record",
        "出生医学证明",
        "Birth certificate",
        P,
        "wjw",
        "json",
        _SENSITIVE,
        "conditional",
        "general",
        BIRTH_BASIS,
        definition="出生医学证明的记载事项，按新生儿的公民身份号码查询",
        sharing_conditions=_AGREED_USE,
    ),
    SampleElement(
        "person.medical_insurance_status",
        "医保参保状态",
        "Medical insurance status",
        P,
        "ybj",
        "string",
        _SENSITIVE,
        "conditional",
        "general",
        MEDICAL_INSURANCE_BASIS,
        definition="基本医疗保险参保状态：参保、未参保、停保",
        sharing_conditions=_AGREED_USE,
    ),
]

# The registered shape of a value: the source checks it before signing, the consumer after decrypting.
_DATE = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
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
    "person.social_security_card_status": {"type": "string", "enum": ["未申领", "已制卡", "正常", "挂失"]},
    "enterprise.established_on": _DATE,
    "enterprise.status": {"type": "string", "enum": ["存续", "注销", "吊销"]},
    "person.property_certificate_no": {"type": "string", "minLength": 1, "maxLength": 64},
    "person.property_address": _TEXT,
    "person.property_owner": _TEXT,
    "person.property_records": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["certificate_no", "address", "area_m2", "registered_on"],
            "properties": {
                "certificate_no": {"type": "string", "minLength": 1},
                "address": {"type": "string", "minLength": 1},
                "area_m2": {"type": "number", "exclusiveMinimum": 0},
                "registered_on": _DATE,
            },
            "additionalProperties": False,
        },
    },
    "person.dishonest_debtor": {"type": "boolean"},
    "enterprise.dishonest_debtor": {"type": "boolean"},
    "person.marital_status": {"type": "string", "enum": ["未婚", "已婚", "离婚", "丧偶"]},
    "person.spouse_name": {"type": "string", "minLength": 1, "maxLength": 50},
    "person.birth_record": {
        "type": "object",
        "required": [
            "certificate_no",
            "name",
            "gender",
            "birth_date",
            "birth_place",
            "mother_name",
            "father_name",
        ],
        "properties": {
            "certificate_no": {"type": "string", "minLength": 1},
            "name": {"type": "string", "minLength": 1},
            "gender": {"type": "string", "enum": ["男", "女"]},
            "birth_date": _DATE,
            "birth_place": {"type": "string", "minLength": 1},
            "mother_name": {"type": "string", "minLength": 1},
            "father_name": {"type": "string", "minLength": 1},
        },
        "additionalProperties": False,
    },
    "person.medical_insurance_status": {"type": "string", "enum": ["参保", "未参保", "停保"]},
}

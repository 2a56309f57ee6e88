"""A bundle service item (一件事) built in the tests from the sample elements, and prefill bodies.

Handled by 住建局 (zjj), with a social-insurance step of 人社局 (hrss): zjj's step needs the applicant's
and the spouse's identity cards and a marriage certificate (no element replaces it); hrss's step
needs the applicant's insurance record; the household register copy is in no step (zjj's intake).
"""

from typing import Any

from tests.authkit import now_iso

BUNDLE = "TEST-YJS-001"
ZJJ_STEP_ELEMENTS = ["person.name", "person.registered_address"]
HRSS_STEP_ELEMENTS = ["person.employer_name", "person.si_status"]  # unconditional, source hrss
INTAKE_ELEMENTS = ["person.household_members"]


def bundle_item(code: str = BUNDLE, **overrides: Any) -> dict[str, Any]:
    """The POST /v1/service-items body of the test bundle."""
    return {
        "code": code,
        "name": "测试：住房保障一件事",
        "handling_department": "zjj",
        "participants": ["hrss"],
        "subjects": [
            {"role": "applicant", "subject_type": "person", "name": "申请人"},
            {"role": "spouse", "subject_type": "person", "name": "配偶"},
        ],
        "materials": [
            {"name": "申请人身份证复印件", "elements": ZJJ_STEP_ELEMENTS},
            {"name": "配偶身份证复印件", "elements": ["person.name"], "subject_role": "spouse"},
            {"name": "结婚证原件", "elements": []},
            {"name": "参保证明", "elements": HRSS_STEP_ELEMENTS},
            {"name": "户口簿复印件", "elements": INTAKE_ELEMENTS},
        ],
        "steps": [
            {
                "code": "housing",
                "name": "住房保障资格审核",
                "department": "zjj",
                "materials": ["申请人身份证复印件", "配偶身份证复印件", "结婚证原件"],
            },
            {"code": "insurance", "name": "社保核验", "department": "hrss", "materials": ["参保证明"]},
        ],
    } | overrides


def prefill_body(
    subjects: dict[str, str], *, prefill_id: str = "pf-2026-000001", **extra: Any
) -> dict[str, Any]:
    """A POST /v1/service-items/{code}/prefill body about persons: {role: resident id}."""
    return {
        "prefill_id": prefill_id,
        "case_no": "YJS-2026-000001",
        "subjects": {role: {"type": "person", "id": sid} for role, sid in subjects.items()},
        "on_behalf_of": "wang.fang",
        "requested_at": now_iso(),
    } | extra

"""Data elements in full: attributes, value schema, versions and history, status transitions, search."""

from typing import Any

from fastapi.testclient import TestClient

from shuyuan.sample_catalogue import ELEMENTS
from tests.registrykit import STEWARD, as_dept


def element(code: str = "person.military_service", **overrides: Any) -> dict[str, Any]:
    """A valid element body (registered by civil affairs-like `xzsp` unless overridden)."""
    return {
        "code": code,
        "name_zh": "兵役状况",
        "name_en": "Military service status",
        "definition": "兵役登记记载的服役状况",
        "subject_type": "person",
        "value_type": "string",
        "value_schema": {"type": "string", "enum": ["未服役", "现役", "退役"]},
        "sensitivity": "sensitive_personal",
        "grade": "important",
        "grade_basis": "GB/T 43697-2024：兵役登记信息汇聚后关系国防动员，定为重要数据",
        "sharing_type": "conditional",
        "sharing_conditions": "仅用于兵役核验类事项",
        "update_frequency": "on_change",
        "consent_required": True,
        "status": "candidate",
        "source": "xzsp",
        "reason": "新增兵役登记数据元",
    } | overrides


def test_an_element_carries_every_attribute_and_its_creation_is_history(api: TestClient) -> None:
    response = api.post("/v1/elements", json=element(), headers=STEWARD)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body | {"created_at": None, "updated_at": None} == {
        **{k: v for k, v in element().items() if k != "reason"},
        "superseded_by": None,
        "version": 1,
        "created_at": None,
        "updated_at": None,
    }
    history = api.get("/v1/elements/person.military_service/history").json()
    assert history["total"] == 1
    entry = history["items"][0]
    assert (entry["version"], entry["action"], entry["actor"], entry["reason"]) == (
        1,
        "created",
        "steward-li (steward)",
        "新增兵役登记数据元",
    )
    assert entry["changes"]["grade"] == [None, "important"]
    # The grade's reason is an attribute like any other: changed with a reason, kept in history.
    basis = "GB/T 43697-2024 重新评估：单条记录不足以影响国防动员，定为一般数据"
    patched = api.patch(
        "/v1/elements/person.military_service",
        json={"grade": "general", "grade_basis": basis, "reason": "定级复核"},
        headers=STEWARD,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["grade"], patched.json()["grade_basis"]) == ("general", basis)
    last = api.get("/v1/elements/person.military_service/history").json()["items"][0]
    assert last["changes"]["grade_basis"] == [element()["grade_basis"], basis]


def test_a_value_schema_that_is_not_json_schema_is_refused_and_nothing_is_stored(api: TestClient) -> None:
    response = api.post("/v1/elements", json=element(value_schema={"type": "text"}), headers=STEWARD)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "invalid_value_schema"
    assert api.get("/v1/elements/person.military_service").status_code == 404
    bad_patch = api.patch(
        "/v1/elements/person.name", json={"value_schema": {"minLength": "three"}}, headers=as_dept("psb")
    )
    assert bad_patch.json()["reason"] == "invalid_value_schema"


def test_an_update_bumps_the_version_and_records_a_field_diff_with_who_and_why(api: TestClient) -> None:
    response = api.patch(
        "/v1/elements/person.name",
        json={"definition": "户籍登记的姓名", "grade": "important", "name_zh": "姓名", "reason": "补充定义"},
        headers=as_dept("psb", "wang"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    latest = api.get("/v1/elements/person.name/history").json()["items"][0]
    # name_zh did not change, so it is not in the diff.
    assert latest["changes"] == {"definition": ["", "户籍登记的姓名"], "grade": ["general", "important"]}
    assert (latest["actor"], latest["reason"], latest["version"]) == ("wang@psb", "补充定义", 2)
    unchanged = api.patch("/v1/elements/person.name", json={"grade": "important"}, headers=STEWARD)
    assert unchanged.json()["version"] == 2
    schema = {"type": "string", "maxLength": 50}
    assert (
        api.patch("/v1/elements/person.name", json={"value_schema": schema}, headers=STEWARD).json()[
            "version"
        ]
        == 3
    )
    cleared = api.patch(
        "/v1/elements/person.name", json={"value_schema": None, "name_en": None}, headers=STEWARD
    )
    assert (cleared.json()["value_schema"], cleared.json()["name_en"], cleared.json()["version"]) == (
        None,
        "Name",
        4,
    )


def test_only_the_source_department_or_a_steward_may_edit(api: TestClient) -> None:
    for headers in ({}, as_dept("hrss")):
        response = api.patch("/v1/elements/person.name", json={"definition": "x"}, headers=headers)
        assert response.status_code == 403
        assert response.json()["reason"] == "forbidden"
    assert api.get("/v1/elements/person.name").json()["version"] == 1


def test_status_moves_only_along_allowed_transitions(api: TestClient) -> None:
    assert api.post("/v1/elements", json=element(), headers=STEWARD).status_code == 201
    path = "/v1/elements/person.military_service/status"
    skipped = api.post(path, json={"status": "standard"}, headers=STEWARD)
    assert (skipped.status_code, skipped.json()["reason"]) == (409, "invalid_transition")
    assert (
        api.post(path, json={"status": "recorded"}, headers=as_dept("xzsp")).json()["reason"] == "forbidden"
    )
    for step in ("recorded", "qualified", "standard"):
        response = api.post(path, json={"status": step, "reason": f"to {step}"}, headers=STEWARD)
        assert response.status_code == 200, response.text
    back = api.post(path, json={"status": "recorded"}, headers=STEWARD)
    assert back.json()["reason"] == "invalid_transition"
    assert api.get("/v1/elements/person.military_service").json()["version"] == 4


def test_an_element_cannot_be_registered_retired(api: TestClient) -> None:
    response = api.post("/v1/elements", json=element(status="retired"), headers=STEWARD)
    assert (response.status_code, response.json()["reason"]) == (400, "invalid_request")


def test_superseding_needs_a_successor_and_the_confirmed_impact(api: TestClient) -> None:
    new = element("person.name_full", name_zh="姓名全称甲", name_en="Legal full name", source="psb")
    assert api.post("/v1/elements", json=new | {"status": "standard"}, headers=STEWARD).status_code == 201
    path = "/v1/elements/person.gender/status"
    unconfirmed = api.post(
        path, json={"status": "superseded", "superseded_by": "person.name_full"}, headers=STEWARD
    )
    assert unconfirmed.json()["reason"] == "confirmation_required"
    token = api.get("/v1/elements/person.gender/impact").json()["token"]
    no_successor = api.post(path, json={"status": "superseded", "confirm": token}, headers=STEWARD)
    assert no_successor.status_code == 400
    done = api.post(
        path,
        json={"status": "superseded", "superseded_by": "person.name_full", "confirm": token},
        headers=STEWARD,
    )
    assert done.status_code == 200, done.text
    assert done.json()["superseded_by"] == "person.name_full"
    assert (
        api.patch("/v1/elements/person.gender", json={"definition": "x"}, headers=STEWARD).status_code == 409
    )


def test_lists_filter_and_search_chinese_english_and_alias_names(api: TestClient) -> None:
    alias = {"scope_type": "region", "scope": "330100", "local_code": "HZ-XM", "local_name": "公民姓名"}
    assert api.post("/v1/elements/person.name/aliases", json=alias, headers=STEWARD).status_code == 201

    def codes(**params: Any) -> list[str]:
        return [e["code"] for e in api.get("/v1/elements", params=params).json()["items"]]

    assert codes(q="公民") == ["person.name"]
    assert codes(q="hz-xm") == ["person.name"]
    assert codes(q="出生") == ["person.birth_date", "person.birth_record"]
    assert codes(q="DATE OF") == ["person.birth_date"]
    assert codes(q="%") == []
    assert set(codes(sharing_type="conditional", limit=500)) == {
        e.code for e in ELEMENTS if e.sharing_type == "conditional"
    }
    assert codes(source="hrss", sharing_type="unconditional") == ["person.employer_name", "person.si_status"]
    page = api.get("/v1/elements", params={"subject_type": "enterprise", "limit": 3, "offset": 3}).json()
    assert (page["total"], len(page["items"]), page["offset"]) == (
        sum(e.subject_type == "enterprise" for e in ELEMENTS),
        3,
        3,
    )
    assert api.get("/v1/elements", params={"status": "bogus"}).status_code == 422

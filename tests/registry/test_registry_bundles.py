"""Bundles (一件事) in the registry: subject roles, steps of participating departments, each material's
role; the validation codes; catalogue export and import (JSON and CSV) keep them; the coverage report
reads each step's materials as the step's department."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.bundlekit import BUNDLE, bundle_item
from tests.registrykit import STEWARD

PROBLEM = "application/problem+json"


def _problem(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["reason"] == reason
    return body


def test_a_bundle_is_stored_and_read_back_with_roles_steps_and_material_roles(api: TestClient) -> None:
    created = api.post("/v1/service-items", json=bundle_item(), headers=STEWARD)
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["subjects"] == bundle_item()["subjects"]
    assert [(m["name"], m["subject_role"]) for m in item["materials"]] == [
        ("申请人身份证复印件", "applicant"),  # no role named: the first role
        ("配偶身份证复印件", "spouse"),
        ("结婚证原件", "applicant"),
        ("参保证明", "applicant"),
        ("户口簿复印件", "applicant"),
    ]
    assert item["steps"] == bundle_item()["steps"]
    assert api.get(f"/v1/service-items/{BUNDLE}").json() == item
    listed = api.get("/v1/service-items", params={"q": BUNDLE}).json()["items"]
    assert listed == [item]


def test_replacing_a_bundle_replaces_its_steps_and_roles(api: TestClient) -> None:
    assert api.post("/v1/service-items", json=bundle_item(), headers=STEWARD).status_code == 201
    plain = bundle_item(steps=[], subjects=[])
    plain["materials"] = [m for m in plain["materials"] if m.get("subject_role") != "spouse"]
    replaced = api.put(f"/v1/service-items/{BUNDLE}", json=plain, headers=STEWARD)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["steps"] == []
    assert replaced.json()["subjects"] == [{"role": "applicant", "subject_type": "person", "name": "申请人"}]
    again = api.put(f"/v1/service-items/{BUNDLE}", json=bundle_item(), headers=STEWARD)
    assert again.json()["steps"] == bundle_item()["steps"]


def _with_steps(*steps: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return bundle_item(steps=list(steps), **overrides)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            _with_steps({"code": "s", "name": "公安", "department": "psb", "materials": []}),
            "step_not_participant",
        ),
        (
            _with_steps(
                {"code": "a", "name": "一", "department": "zjj", "materials": ["参保证明"]},
                {"code": "b", "name": "二", "department": "hrss", "materials": ["参保证明"]},
            ),
            "material_in_two_steps",
        ),
        (
            _with_steps({"code": "a", "name": "一", "department": "hrss", "materials": ["营业执照"]}),
            "unknown_material",
        ),
        (
            bundle_item(
                materials=[{"name": "出生医学证明", "elements": ["person.name"], "subject_role": "newborn"}],
                steps=[],
            ),
            "unknown_subject_role",
        ),
        (
            bundle_item(
                subjects=[], materials=[{"name": "x", "elements": [], "subject_role": "spouse"}], steps=[]
            ),
            "unknown_subject_role",
        ),
        (
            _with_steps(
                {"code": "a", "name": "一", "department": "zjj", "materials": []},
                {"code": "a", "name": "二", "department": "hrss", "materials": []},
            ),
            "invalid_request",
        ),
        (
            bundle_item(
                subjects=[
                    {"role": "applicant", "subject_type": "person", "name": "申请人"},
                    {"role": "applicant", "subject_type": "person", "name": "又一个"},
                ]
            ),
            "invalid_request",
        ),
    ],
    ids=[
        "step of a department taking no part",
        "material in two steps",
        "step names an unknown material",
        "material names an unknown role",
        "a role other than the default applicant",
        "two steps with one code",
        "two roles with one name",
    ],
)
def test_a_bundle_that_does_not_fit_together_is_refused_with_its_reason_and_nothing_is_stored(
    api: TestClient, body: dict[str, Any], reason: str
) -> None:
    _problem(api.post("/v1/service-items", json=body, headers=STEWARD), 400, reason)
    assert api.get(f"/v1/service-items/{BUNDLE}").status_code == 404
    assert api.post("/v1/service-items", json=bundle_item(steps=[]), headers=STEWARD).status_code == 201
    _problem(api.put(f"/v1/service-items/{BUNDLE}", json=body, headers=STEWARD), 400, reason)
    assert api.get(f"/v1/service-items/{BUNDLE}").json()["steps"] == []  # the replace left nothing behind


def test_a_bad_role_or_step_shape_is_refused_by_the_schema(api: TestClient) -> None:
    bad_role = bundle_item(subjects=[{"role": "Mother!", "subject_type": "person", "name": "母亲"}])
    _problem(api.post("/v1/service-items", json=bad_role, headers=STEWARD), 422, "invalid_request")
    bad_type = bundle_item(subjects=[{"role": "mother", "subject_type": "cat", "name": "母亲"}])
    _problem(api.post("/v1/service-items", json=bad_type, headers=STEWARD), 422, "invalid_request")


def test_the_json_catalogue_round_trips_a_bundle(api: TestClient) -> None:
    assert api.post("/v1/service-items", json=bundle_item(), headers=STEWARD).status_code == 201
    before = api.get(f"/v1/service-items/{BUNDLE}").json()
    exported = api.get("/v1/catalogue/export").json()
    doc = next(i for i in exported["service_items"] if i["code"] == BUNDLE)
    assert doc["steps"] == before["steps"] and doc["subjects"] == before["subjects"]
    # Emptied, then imported back from the export: the same bundle again.
    api.put(
        f"/v1/service-items/{BUNDLE}", json=bundle_item(steps=[], subjects=[], materials=[]), headers=STEWARD
    )
    imported = api.post(
        "/v1/catalogue/import", content=json.dumps(exported, ensure_ascii=False).encode(), headers=STEWARD
    )
    assert imported.status_code == 200, imported.text
    assert api.get(f"/v1/service-items/{BUNDLE}").json() == before


def test_a_csv_import_keeps_what_the_csv_cannot_say(api: TestClient) -> None:
    assert api.post("/v1/service-items", json=bundle_item(), headers=STEWARD).status_code == 201
    before = api.get(f"/v1/service-items/{BUNDLE}").json()
    items_csv = api.get("/v1/catalogue/export/service-items.csv").text
    again = api.post("/v1/catalogue/import/service-items.csv", content=items_csv.encode(), headers=STEWARD)
    assert again.status_code == 200, again.text
    assert api.get(f"/v1/service-items/{BUNDLE}").json() == before


def test_coverage_reads_each_steps_materials_as_the_steps_department(api: TestClient) -> None:
    assert api.post("/v1/service-items", json=bundle_item(), headers=STEWARD).status_code == 201
    coverage = api.get(f"/v1/service-items/{BUNDLE}/coverage").json()
    status = {m["name"]: m["status"] for m in coverage["materials"]}
    # hrss's step: its own unconditional elements, read by hrss (the handler zjj would be refused them).
    assert status == {
        "申请人身份证复印件": "covered",
        "配偶身份证复印件": "covered",
        "结婚证原件": "not_covered",  # nothing replaces it
        "参保证明": "covered",
        "户口簿复印件": "covered",
    }


def test_an_agreement_for_a_bundle_is_for_the_step_that_needs_the_element(api: TestClient) -> None:
    item = bundle_item()
    item["materials"].append({"name": "收入证明", "elements": ["person.si_contribution_base"]})
    item["steps"][1]["materials"].append("收入证明")  # hrss's step
    assert api.post("/v1/service-items", json=item, headers=STEWARD).status_code == 201
    now = datetime.now(UTC)
    body = {
        "element": "person.si_contribution_base",
        "service_item": BUNDLE,
        "legal_basis": "《社会保险法》",
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=90)).isoformat(),
    }
    # The handler's steps do not need it: no agreement can make it readable for zjj.
    refused = api.post("/v1/agreements", json=body | {"consumer": "zjj"}, headers=STEWARD)
    _problem(refused, 400, "not_necessary_for_purpose")
    assert api.post("/v1/agreements", json=body | {"consumer": "hrss"}, headers=STEWARD).status_code == 201

"""Coverage of service items (减材料), impact analysis before retiring, and subscriptions."""

from typing import Any

from fastapi.testclient import TestClient

from shuyuan.sample_catalogue import SERVICE_ITEMS
from tests.registrykit import STEWARD, as_dept

HOUSING = "330100-GZF-001"
# Every sample material is covered: its elements are released to the handling department.
SAMPLE_MATERIALS = sum(len(item["materials"]) for item in SERVICE_ITEMS)


def materials(api: TestClient, item: str) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in api.get(f"/v1/service-items/{item}/coverage").json()["materials"]}


def test_the_sample_items_are_fully_covered(api: TestClient) -> None:
    report = api.get("/v1/coverage").json()
    assert (report["covered"], report["total"], report["ratio"], report["needs_agreement"]) == (
        SAMPLE_MATERIALS,
        SAMPLE_MATERIALS,
        1.0,
        0,
    )
    assert [i["code"] for i in report["items"]] == sorted(item["code"] for item in SERVICE_ITEMS)


def test_a_material_needs_every_element_usable_by_the_handling_department(api: TestClient) -> None:
    item = {
        "code": "TEST-COV-1",
        "name": "测试事项",
        "handling_department": "xzsp",
        "materials": [
            {"name": "身份证", "elements": ["person.name", "person.gender"]},
            {"name": "收入证明", "elements": ["person.si_status", "person.si_contribution_base"]},
            {"name": "无犯罪证明", "elements": ["person.criminal_record"]},
            {"name": "手写承诺书", "elements": []},
        ],
    }
    assert api.post("/v1/service-items", json=item, headers=STEWARD).status_code == 201
    rows = materials(api, "TEST-COV-1")
    assert {name: m["status"] for name, m in rows.items()} == {
        "身份证": "covered",
        "收入证明": "needs_agreement",  # xzsp holds no agreement for the conditional element
        "无犯罪证明": "not_covered",
        "手写承诺书": "not_covered",
    }
    assert rows["无犯罪证明"]["problems"] == ["person.criminal_record is not shared"]
    covered = api.get("/v1/service-items/TEST-COV-1/coverage").json()
    assert (covered["covered"], covered["total"], covered["ratio"]) == (1, 4, 0.25)
    overall = api.get("/v1/coverage").json()
    assert (overall["covered"], overall["total"], overall["needs_agreement"]) == (
        SAMPLE_MATERIALS + 1,
        SAMPLE_MATERIALS + 4,
        1,
    )
    assert api.get("/v1/service-items/NOPE-1/coverage").status_code == 404


def test_revoking_the_agreement_or_retiring_an_element_uncovers_the_material(api: TestClient) -> None:
    agreement = api.get("/v1/agreements", params={"element": "person.si_months_paid"}).json()["items"][0]
    api.post(f"/v1/agreements/{agreement['id']}/revoke", json={"reason": "test"}, headers=STEWARD)
    assert materials(api, HOUSING)["收入证明"]["status"] == "needs_agreement"
    token = api.get("/v1/elements/person.household_members/impact").json()["token"]
    retire = {"status": "retired", "confirm": token, "reason": "test"}
    assert (
        api.post("/v1/elements/person.household_members/status", json=retire, headers=STEWARD).status_code
        == 200
    )
    assert materials(api, HOUSING)["户口簿复印件"]["status"] == "not_covered"


def test_impact_lists_items_agreements_subscriptions_and_aliases(api: TestClient) -> None:
    sub = {"subscriber": "zjj", "source": "hrss", "event_types": ["si.status_changed"]}
    assert api.post("/v1/subscriptions", json=sub, headers=STEWARD).status_code == 201
    alias = {"scope_type": "region", "scope": "330100", "local_code": "JFJS", "local_name": "缴费基数"}
    assert (
        api.post("/v1/elements/person.si_contribution_base/aliases", json=alias, headers=STEWARD).status_code
        == 201
    )
    report = api.get("/v1/elements/person.si_contribution_base/impact").json()
    assert report["service_items"] == [
        {"code": HOUSING, "name": "公共租赁住房申请", "materials": ["收入证明"]}
    ]
    assert [(a["consumer"], a["status"]) for a in report["agreements"]] == [("zjj", "approved")]
    assert [(s["subscriber"], s["event_types"]) for s in report["subscriptions"]] == [
        ("zjj", ["si.status_changed"])
    ]
    assert [a["local_code"] for a in report["aliases"]] == ["JFJS"]
    assert len(report["token"]) == 32


def test_retiring_needs_the_current_impact_token(api: TestClient) -> None:
    path = "/v1/elements/person.si_contribution_base/status"
    missing = api.post(path, json={"status": "retired"}, headers=STEWARD)
    assert (missing.status_code, missing.json()["reason"]) == (409, "confirmation_required")
    token = api.get("/v1/elements/person.si_contribution_base/impact").json()["token"]
    sub = {"subscriber": "amr", "source": "hrss", "event_types": ["si.status_changed"]}
    assert api.post("/v1/subscriptions", json=sub, headers=STEWARD).status_code == 201
    stale = api.post(path, json={"status": "retired", "confirm": token}, headers=STEWARD)
    assert (stale.status_code, stale.json()["reason"]) == (409, "stale_confirmation")
    assert api.get("/v1/elements/person.si_contribution_base").json()["status"] == "standard"
    fresh = api.get("/v1/elements/person.si_contribution_base/impact").json()["token"]
    done = api.post(path, json={"status": "retired", "confirm": fresh, "reason": "口径调整"}, headers=STEWARD)
    assert done.json()["status"] == "retired"
    assert (
        api.post(path, json={"status": "standard"}, headers=STEWARD).json()["reason"] == "invalid_transition"
    )


def test_subscriptions_are_managed_with_crud(api: TestClient) -> None:
    # zjj: a pair the sample catalogue does not subscribe already (amr and fso hear of xzsp's licences).
    body = {"subscriber": "zjj", "source": "xzsp", "event_types": ["license.issued", "license.issued"]}
    assert api.post("/v1/subscriptions", json=body, headers=as_dept("hrss")).json()["reason"] == "forbidden"
    # Subscriptions are a steward's operation (issue 9): not even the subscriber makes its own.
    assert api.post("/v1/subscriptions", json=body, headers=as_dept("zjj")).json()["reason"] == "forbidden"
    created = api.post("/v1/subscriptions", json=body, headers=STEWARD)
    assert created.status_code == 201
    sub = created.json()
    assert sub["event_types"] == ["license.issued"]
    assert api.post("/v1/subscriptions", json=body, headers=STEWARD).status_code == 409
    bad = api.post(
        "/v1/subscriptions", json=body | {"source": "hrss", "event_types": ["Not An Event"]}, headers=STEWARD
    )
    assert bad.json()["reason"] == "invalid_request"
    assert api.post("/v1/subscriptions", json=body | {"source": "amr"}, headers=STEWARD).status_code == 400
    path = f"/v1/subscriptions/{sub['id']}"
    updated = api.put(path, json={"event_types": ["license.revoked", "license.issued"]}, headers=STEWARD)
    assert updated.json()["event_types"] == ["license.issued", "license.revoked"]
    assert api.get("/v1/subscriptions", params={"source": "xzsp", "subscriber": "zjj"}).json()["total"] == 1
    assert api.delete(path, headers=as_dept("xzsp")).status_code == 403
    assert api.delete(path, headers=as_dept("zjj")).status_code == 403
    assert api.delete(path, headers=STEWARD).status_code == 204
    assert api.get(path).status_code == 404


def test_a_service_item_is_replaced_and_found_by_search(api: TestClient) -> None:
    body = {
        "code": HOUSING,
        "name": "公共租赁住房申请（新版）",
        "handling_department": "zjj",
        "materials": [{"name": "户口簿复印件", "elements": ["person.household_members"]}],
    }
    replaced = api.put(f"/v1/service-items/{HOUSING}", json=body, headers=STEWARD)
    assert replaced.status_code == 200, replaced.text
    assert [m["name"] for m in replaced.json()["materials"]] == ["户口簿复印件"]
    assert api.get("/v1/service-items/330100-GZF-001/coverage").json()["total"] == 1
    other = api.put(f"/v1/service-items/{HOUSING}", json=body | {"code": "330100-OTHER-1"}, headers=STEWARD)
    assert (other.status_code, other.json()["reason"]) == (400, "invalid_request")
    broken = {"name": "坏的", "materials": [{"name": "x", "elements": ["person.nope"]}]}
    unknown = api.put(f"/v1/service-items/{HOUSING}", json=body | broken, headers=STEWARD)
    assert unknown.status_code == 400
    assert (
        api.get(f"/v1/service-items/{HOUSING}").json()["name"] == "公共租赁住房申请（新版）"
    )  # the failed PUT left it
    assert [i["code"] for i in api.get("/v1/service-items", params={"q": "新版"}).json()["items"]] == [
        HOUSING
    ]
    by_dept = api.get("/v1/service-items", params={"handling_department": "xzsp"}).json()
    assert by_dept["total"] == 2

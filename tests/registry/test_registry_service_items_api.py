"""Service items (政务服务事项) over the registry REST API: materials and the elements that replace them."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuyuan.app import app_state
from shuyuan.sample_catalogue import SERVICE_ITEMS
from tests.authkit import bearer, register_test_system

PROBLEM = "application/problem+json"
SAMPLE_CODES = sorted(item["code"] for item in SERVICE_ITEMS)


def _problem(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["reason"]) == (status, reason)
    return body


@pytest.fixture
def steward(client: TestClient) -> dict[str, str]:
    """Authorization headers of a data steward's system (scope `registry:steward`): items are theirs."""
    scopes = ["registry:read", "registry:write", "registry:steward"]
    key = register_test_system(
        app_state(client.app).engine, client_id="steward-test", department="xzsp", scopes=scopes
    )
    return bearer(client, key, "steward-test")


def _item(code: str = "330100-YLBX-001", **overrides: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": "城乡居民医疗保险参保登记",
        "handling_department": "xzsp",
        "materials": [
            {"name": "身份证复印件", "elements": ["person.name", "person.birth_date"]},
            {"name": "户口簿复印件", "elements": ["person.household_members"]},
        ],
    } | overrides


def test_list_gives_the_sample_items_by_code(reader: TestClient) -> None:
    page = reader.get("/v1/service-items").json()
    assert (page["total"], page["limit"], page["offset"]) == (len(SAMPLE_CODES), 50, 0)
    assert [i["code"] for i in page["items"]] == SAMPLE_CODES


@pytest.mark.parametrize("sample", SERVICE_ITEMS, ids=[i["code"] for i in SERVICE_ITEMS])
def test_read_gives_materials_in_order_with_their_elements(
    reader: TestClient, sample: dict[str, Any]
) -> None:
    item = reader.get(f"/v1/service-items/{sample['code']}").json()
    assert (item["code"], item["name"], item["handling_department"], item["participants"]) == (
        sample["code"],
        sample["name"],
        sample["handling_department"],
        sorted(sample["participants"]),
    )
    assert [m["name"] for m in item["materials"]] == [m["name"] for m in sample["materials"]]
    for got, want in zip(item["materials"], sample["materials"], strict=True):
        assert got["elements"] == sorted(want["elements"])


def test_pages(reader: TestClient) -> None:
    page = reader.get("/v1/service-items", params={"limit": 1, "offset": 1}).json()
    assert [i["code"] for i in page["items"]] == SAMPLE_CODES[1:2]
    assert page["total"] == len(SAMPLE_CODES)
    _problem(reader.get("/v1/service-items", params={"limit": 0}), 422, "invalid_request")


def test_create_then_read(client: TestClient, steward: dict[str, str]) -> None:
    response = client.post("/v1/service-items", json=_item(), headers=steward)
    assert response.status_code == 201
    created = response.json()
    assert (created["handling_department"], created["participants"]) == ("xzsp", [])
    assert created["materials"] == [
        {
            "name": "身份证复印件",
            "elements": ["person.birth_date", "person.name"],
            "subject_role": "applicant",
        },
        {"name": "户口簿复印件", "elements": ["person.household_members"], "subject_role": "applicant"},
    ]
    # An item that names no roles has one, the applicant, of its elements' subject type; no steps.
    assert created["subjects"] == [{"role": "applicant", "subject_type": "person", "name": "申请人"}]
    assert created["steps"] == []
    assert client.get("/v1/service-items/330100-YLBX-001").json() == created
    assert client.get("/v1/service-items").json()["total"] == len(SAMPLE_CODES) + 1


def test_a_material_may_name_no_element_and_repeats_are_folded(
    client: TestClient, steward: dict[str, str]
) -> None:
    materials = [
        {"name": "现场照片", "elements": []},
        {"name": "身份证复印件", "elements": ["person.name", "person.name"]},
    ]
    response = client.post("/v1/service-items", json=_item(materials=materials), headers=steward)
    assert response.status_code == 201
    assert response.json()["materials"] == [
        {"name": "现场照片", "elements": [], "subject_role": "applicant"},
        {"name": "身份证复印件", "elements": ["person.name"], "subject_role": "applicant"},
    ]


def test_an_unknown_element_in_a_material_is_invalid_request_and_nothing_is_stored(
    client: TestClient, steward: dict[str, str]
) -> None:
    materials = [
        {"name": "身份证复印件", "elements": ["person.name"]},
        {"name": "鞋码证明", "elements": ["person.shoe_size"]},
    ]
    body = _problem(
        client.post("/v1/service-items", json=_item(materials=materials), headers=steward),
        400,
        "invalid_request",
    )
    assert "person.shoe_size" in body["detail"]
    # The item and its first material were rolled back with the failing one.
    _problem(client.get("/v1/service-items/330100-YLBX-001"), 404, "not_found")
    assert client.get("/v1/service-items").json()["total"] == len(SAMPLE_CODES)


def test_two_materials_with_one_name_are_invalid_request(client: TestClient, steward: dict[str, str]) -> None:
    materials = [
        {"name": "身份证复印件", "elements": []},
        {"name": "身份证复印件", "elements": ["person.name"]},
    ]
    _problem(
        client.post("/v1/service-items", json=_item(materials=materials), headers=steward),
        400,
        "invalid_request",
    )


def test_a_duplicate_code_is_conflict(client: TestClient, steward: dict[str, str]) -> None:
    body = _problem(
        client.post("/v1/service-items", json=_item("330100-GZF-001"), headers=steward), 409, "conflict"
    )
    assert "330100-GZF-001" in body["detail"]
    assert client.get("/v1/service-items/330100-GZF-001").json()["handling_department"] == "zjj"


def test_an_unknown_handling_department_is_refused(client: TestClient, steward: dict[str, str]) -> None:
    _problem(
        client.post("/v1/service-items", json=_item(handling_department="nosuch"), headers=steward),
        404,
        "not_found",
    )
    _problem(client.get("/v1/service-items/330100-YLBX-001"), 404, "not_found")


@pytest.mark.parametrize(
    "overrides,loc",
    [
        ({"code": "有 空格"}, ["body", "code"]),
        ({"code": "-330100"}, ["body", "code"]),
        ({"code": "x"}, ["body", "code"]),
        ({"code": "X" * 65}, ["body", "code"]),
        ({"name": ""}, ["body", "name"]),
        ({"materials": [{"name": "", "elements": []}]}, ["body", "materials", "0", "name"]),
        (
            {"materials": [{"name": "a", "elements": [], "required": True}]},
            ["body", "materials", "0", "required"],
        ),
        ({"materials": [{"name": f"m{i}", "elements": []} for i in range(101)]}, ["body", "materials"]),
        ({"owner": "zjj"}, ["body", "owner"]),
    ],
    ids=[
        "space in code",
        "code starts with a dash",
        "code too short",
        "code too long",
        "empty name",
        "empty material name",
        "unknown material field",
        "101 materials",
        "unknown field",
    ],
)
def test_invalid_bodies_name_the_field(reader: TestClient, overrides: dict[str, Any], loc: list[str]) -> None:
    body = _problem(reader.post("/v1/service-items", json=_item(**overrides)), 422, "invalid_request")
    assert loc in [e["loc"] for e in body["errors"]]


def test_reading_an_unknown_item_is_not_found(reader: TestClient) -> None:
    body = _problem(reader.get("/v1/service-items/330100-NOPE-001"), 404, "not_found")
    assert "330100-NOPE-001" in body["detail"]


# --- participating departments (who besides the handler may query for the item) -----------------------


def test_participants_are_stored_sorted_and_folded_and_replaced(
    client: TestClient, steward: dict[str, str]
) -> None:
    created = client.post(
        "/v1/service-items", json=_item(participants=["zjj", "hrss", "zjj"]), headers=steward
    )
    assert created.status_code == 201, created.text
    assert created.json()["participants"] == ["hrss", "zjj"]
    assert client.get("/v1/service-items/330100-YLBX-001").json()["participants"] == ["hrss", "zjj"]
    replaced = client.put(
        "/v1/service-items/330100-YLBX-001", json=_item(participants=["psb"]), headers=steward
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["participants"] == ["psb"]


@pytest.mark.parametrize(
    ("participants", "detail"),
    [(["nosuch"], "nosuch"), (["xzsp"], "handles the item")],
    ids=["unknown department", "the handler itself"],
)
def test_a_bad_participant_is_invalid_request_and_nothing_is_stored(
    client: TestClient, steward: dict[str, str], participants: list[str], detail: str
) -> None:
    response = client.post("/v1/service-items", json=_item(participants=participants), headers=steward)
    assert detail in _problem(response, 400, "invalid_request")["detail"]
    _problem(client.get("/v1/service-items/330100-YLBX-001"), 404, "not_found")


def test_participants_must_be_a_list_of_codes(reader: TestClient) -> None:
    body = _problem(reader.post("/v1/service-items", json=_item(participants="zjj")), 422, "invalid_request")
    assert ["body", "participants"] in [e["loc"] for e in body["errors"]]


def test_creating_or_replacing_an_item_is_a_stewards_operation(
    client: TestClient, steward: dict[str, str]
) -> None:
    # A department's system (every scope but the steward's) could otherwise make itself a participant
    # of another department's item and read what that item needs (issue 9).
    hijack = _item(
        "330100-GZF-001", name="公共租赁住房申请", handling_department="zjj", participants=["xzsp"]
    )
    _problem(client.put("/v1/service-items/330100-GZF-001", json=hijack), 403, "forbidden")
    _problem(client.post("/v1/service-items", json=_item()), 403, "forbidden")
    assert client.get("/v1/service-items/330100-GZF-001").json()["participants"] == []
    _problem(client.get("/v1/service-items/330100-YLBX-001"), 404, "not_found")
    assert client.put("/v1/service-items/330100-GZF-001", json=hijack, headers=steward).status_code == 200

"""Service items (政务服务事项) over the registry REST API: materials and the elements that replace them."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuyuan.sample_catalogue import SERVICE_ITEMS

PROBLEM = "application/problem+json"
SAMPLE_CODES = sorted(item["code"] for item in SERVICE_ITEMS)


def _problem(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["reason"]) == (status, reason)
    return body


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
    assert (item["code"], item["name"], item["handling_department"]) == (
        sample["code"],
        sample["name"],
        sample["handling_department"],
    )
    assert [m["name"] for m in item["materials"]] == [m["name"] for m in sample["materials"]]
    for got, want in zip(item["materials"], sample["materials"], strict=True):
        assert got["elements"] == sorted(want["elements"])


def test_pages(reader: TestClient) -> None:
    page = reader.get("/v1/service-items", params={"limit": 1, "offset": 1}).json()
    assert [i["code"] for i in page["items"]] == SAMPLE_CODES[1:2]
    assert page["total"] == len(SAMPLE_CODES)
    _problem(reader.get("/v1/service-items", params={"limit": 0}), 422, "invalid_request")


def test_create_then_read(client: TestClient) -> None:
    response = client.post("/v1/service-items", json=_item())
    assert response.status_code == 201
    created = response.json()
    assert created["handling_department"] == "xzsp"
    assert created["materials"] == [
        {"name": "身份证复印件", "elements": ["person.birth_date", "person.name"]},
        {"name": "户口簿复印件", "elements": ["person.household_members"]},
    ]
    assert client.get("/v1/service-items/330100-YLBX-001").json() == created
    assert client.get("/v1/service-items").json()["total"] == len(SAMPLE_CODES) + 1


def test_a_material_may_name_no_element_and_repeats_are_folded(client: TestClient) -> None:
    materials = [
        {"name": "现场照片", "elements": []},
        {"name": "身份证复印件", "elements": ["person.name", "person.name"]},
    ]
    response = client.post("/v1/service-items", json=_item(materials=materials))
    assert response.status_code == 201
    assert response.json()["materials"] == [
        {"name": "现场照片", "elements": []},
        {"name": "身份证复印件", "elements": ["person.name"]},
    ]


def test_an_unknown_element_in_a_material_is_invalid_request_and_nothing_is_stored(
    client: TestClient,
) -> None:
    materials = [
        {"name": "身份证复印件", "elements": ["person.name"]},
        {"name": "鞋码证明", "elements": ["person.shoe_size"]},
    ]
    body = _problem(client.post("/v1/service-items", json=_item(materials=materials)), 400, "invalid_request")
    assert "person.shoe_size" in body["detail"]
    # The item and its first material were rolled back with the failing one.
    _problem(client.get("/v1/service-items/330100-YLBX-001"), 404, "not_found")
    assert client.get("/v1/service-items").json()["total"] == len(SAMPLE_CODES)


def test_two_materials_with_one_name_are_invalid_request(client: TestClient) -> None:
    materials = [
        {"name": "身份证复印件", "elements": []},
        {"name": "身份证复印件", "elements": ["person.name"]},
    ]
    _problem(client.post("/v1/service-items", json=_item(materials=materials)), 400, "invalid_request")


def test_a_duplicate_code_is_conflict(client: TestClient) -> None:
    body = _problem(client.post("/v1/service-items", json=_item("330100-GZF-001")), 409, "conflict")
    assert "330100-GZF-001" in body["detail"]
    assert client.get("/v1/service-items/330100-GZF-001").json()["handling_department"] == "zjj"


def test_an_unknown_handling_department_is_refused(client: TestClient) -> None:
    _problem(client.post("/v1/service-items", json=_item(handling_department="nosuch")), 404, "not_found")
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

"""Data elements over the registry REST API: one source each, search, pages, and the error bodies."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuyuan.sample_catalogue import ELEMENTS
from tests.authkit import steward_headers

SAMPLE = {e.code: (e.name_zh, e.name_en, e.source, e.sharing_type) for e in ELEMENTS}
PROBLEM = "application/problem+json"


def _problem(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["reason"]) == (status, reason)
    return body


def _codes(client: TestClient, **params: Any) -> tuple[list[str], int]:
    response = client.get("/v1/elements", params=params)
    assert response.status_code == 200, response.text
    page = response.json()
    return [e["code"] for e in page["items"]], page["total"]


def _element(code: str = "person.military_service", **overrides: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name_zh": "兵役状况",
        "name_en": "Military service status",
        "subject_type": "person",
        "source": "psb",
        "sharing_type": "unconditional",
        "value_type": "string",
        "sensitivity": "sensitive_personal",
    } | overrides


def test_list_gives_every_sample_element_with_its_single_source(reader: TestClient) -> None:
    page = reader.get("/v1/elements", params={"limit": 500}).json()
    assert page["total"] == len(SAMPLE)
    assert [e["code"] for e in page["items"]] == sorted(SAMPLE)
    for item in page["items"]:
        zh, en, source, sharing = SAMPLE[item["code"]]
        assert (item["name_zh"], item["name_en"], item["source"], item["sharing_type"]) == (
            zh,
            en,
            source,
            sharing,
        )
        assert item["version"] == 1
        assert item["status"] == "standard"


@pytest.mark.parametrize("source", ["psb", "hrss", "amr"])
def test_filter_by_source(reader: TestClient, source: str) -> None:
    codes, total = _codes(reader, source=source, limit=500)
    assert codes == sorted(c for c, v in SAMPLE.items() if v[2] == source)
    assert total == len(codes)


def test_a_consumer_only_department_is_the_source_of_nothing(reader: TestClient) -> None:
    assert _codes(reader, source="zjj") == ([], 0)
    assert _codes(reader, source="nosuch") == ([], 0)


@pytest.mark.parametrize(
    "q,expected",
    [
        ("姓名", ["person.name", "person.spouse_name"]),
        ("出生", ["person.birth_date", "person.birth_record"]),
        ("缴费", ["person.si_contribution_base", "person.si_months_paid"]),
        ("企业", ["enterprise.name", "enterprise.type"]),
        ("Registered address", ["enterprise.address", "person.registered_address"]),
        ("capital", ["enterprise.registered_capital"]),
        ("contribution", ["person.si_contribution_base", "person.si_months_paid"]),
        ("household", ["person.household_members"]),
        ("si_", ["person.si_contribution_base", "person.si_months_paid", "person.si_status"]),
        ("enterprise.", sorted(c for c in SAMPLE if c.startswith("enterprise."))),
        ("no such thing", []),
    ],
)
def test_search_matches_code_chinese_or_english_name(reader: TestClient, q: str, expected: list[str]) -> None:
    assert _codes(reader, q=q, limit=500) == (expected, len(expected))


@pytest.mark.parametrize("q", ["%", "_", "%%", "\\"])
def test_search_takes_like_wildcards_literally(reader: TestClient, q: str) -> None:
    codes, total = _codes(reader, q=q, limit=500)
    expected = sorted(c for c, (zh, en, *_rest) in SAMPLE.items() if q in c or q in zh or q in en)
    assert codes == expected
    assert total == len(expected)
    if q in ("%", "%%", "\\"):
        assert codes == []


def test_search_combines_with_source_and_pages(reader: TestClient) -> None:
    codes, total = _codes(reader, q="person", source="hrss", limit=2, offset=1)
    everything = sorted(c for c, v in SAMPLE.items() if v[2] == "hrss")
    assert total == len(everything)
    assert codes == everything[1:3]


def test_a_search_term_longer_than_100_characters_is_invalid_request(reader: TestClient) -> None:
    body = _problem(reader.get("/v1/elements", params={"q": "x" * 101}), 422, "invalid_request")
    assert [e["loc"] for e in body["errors"]] == [["query", "q"]]


def test_pages_report_the_total(reader: TestClient) -> None:
    first, total = _codes(reader, limit=5)
    second, _ = _codes(reader, limit=5, offset=5)
    last, _ = _codes(reader, limit=5, offset=total - 2)
    assert total == len(SAMPLE)
    assert first + second == sorted(SAMPLE)[:10]
    assert last == sorted(SAMPLE)[-2:]


def test_create_then_read(client: TestClient) -> None:
    response = client.post(
        "/v1/elements",
        json=_element(definition="兵役登记记载的兵役状况"),
        headers=steward_headers(client),
    )
    assert response.status_code == 201
    created = response.json()
    assert created["code"] == "person.military_service"
    assert created["source"] == "psb"
    assert created["version"] == 1
    assert created["status"] == "recorded"  # the default registration status
    assert created["grade"] == "general"
    assert created["definition"] == "兵役登记记载的兵役状况"
    assert client.get("/v1/elements/person.military_service").json() == created
    assert "person.military_service" in _codes(client, source="psb", limit=500)[0]


def test_a_second_source_for_a_code_opens_a_dispute_and_the_first_source_stays(client: TestClient) -> None:
    # The registry issue: a second department's claim is a dispute (202) for a steward, never a second source.
    response = client.post(
        "/v1/elements", json=_element("person.name", source="hrss"), headers=steward_headers(client)
    )
    assert response.status_code == 202, response.text
    assert (response.json()["kind"], response.json()["claimant"]) == ("claim", "hrss")
    assert client.get("/v1/elements/person.name").json()["source"] == "psb"
    body = _problem(
        client.post(
            "/v1/elements", json=_element("person.name", source="psb"), headers=steward_headers(client)
        ),
        409,
        "conflict",
    )
    assert "person.name" in body["detail"]
    assert client.get("/v1/elements").json()["total"] == len(SAMPLE)


def test_an_unknown_source_department_is_refused_and_nothing_is_created(client: TestClient) -> None:
    _problem(
        client.post("/v1/elements", json=_element(source="nosuch"), headers=steward_headers(client)),
        404,
        "not_found",
    )
    _problem(client.get("/v1/elements/person.military_service"), 404, "not_found")


@pytest.mark.parametrize(
    "overrides,loc",
    [
        ({"code": "marital_status"}, ["body", "code"]),
        ({"code": "Person.marital"}, ["body", "code"]),
        ({"code": "person.marital."}, ["body", "code"]),
        ({"code": "person marital"}, ["body", "code"]),
        ({"code": "person." + "x" * 80}, ["body", "code"]),
        ({"subject_type": "household"}, ["body", "subject_type"]),
        ({"sharing_type": "sometimes"}, ["body", "sharing_type"]),
        ({"value_type": "blob"}, ["body", "value_type"]),
        ({"sensitivity": "secret"}, ["body", "sensitivity"]),
        ({"grade": "top"}, ["body", "grade"]),
        ({"status": "approved"}, ["body", "status"]),
        ({"name_zh": ""}, ["body", "name_zh"]),
        ({"source_department_id": 1}, ["body", "source_department_id"]),
        ({"version": 7}, ["body", "version"]),
    ],
)
def test_invalid_bodies_name_the_field(reader: TestClient, overrides: dict[str, Any], loc: list[str]) -> None:
    body = _problem(reader.post("/v1/elements", json=_element(**overrides)), 422, "invalid_request")
    assert loc in [e["loc"] for e in body["errors"]]
    assert reader.get("/v1/elements").json()["total"] == len(SAMPLE)


@pytest.mark.parametrize("field", ["code", "name_zh", "name_en", "subject_type", "source"])
def test_required_fields(reader: TestClient, field: str) -> None:
    payload = _element()
    del payload[field]
    body = _problem(reader.post("/v1/elements", json=payload), 422, "invalid_request")
    assert ["body", field] in [e["loc"] for e in body["errors"]]


def test_reading_an_unknown_element_is_not_found(reader: TestClient) -> None:
    body = _problem(reader.get("/v1/elements/person.nope"), 404, "not_found")
    assert "person.nope" in body["detail"]


def test_a_long_unknown_code_is_cut_in_the_error(reader: TestClient) -> None:
    body = _problem(reader.get("/v1/elements/" + "x" * 500), 404, "not_found")
    assert "x" * 81 not in body["detail"]

"""Departments over the registry REST API: create, list with pages, read, and the error bodies."""

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuyuan.embedded import Embedded
from shuyuan.sample_catalogue import DEPARTMENTS
from tests.authkit import steward_headers

SAMPLE_CODES = sorted(code for code, _, _ in DEPARTMENTS)
PROBLEM = "application/problem+json"


def _problem(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["reason"]) == (status, reason)
    return body


def test_list_returns_the_sample_departments_by_code(reader: TestClient) -> None:
    page = reader.get("/v1/departments").json()
    assert page["total"] == len(DEPARTMENTS)
    assert (page["limit"], page["offset"]) == (50, 0)
    assert [d["code"] for d in page["items"]] == SAMPLE_CODES
    psb = next(d for d in page["items"] if d["code"] == "psb")
    assert psb["name"] == "公安局"
    assert psb["name_en"] == "Public Security Bureau"
    assert psb["status"] == "active"
    assert set(psb) == {"code", "name", "name_en", "status", "answer_deadline_s", "created_at"}
    assert psb["answer_deadline_s"] is None  # the gateway's sync timeout


@pytest.mark.parametrize(
    "limit,offset,expected",
    [
        (2, 0, SAMPLE_CODES[:2]),
        (2, 1, SAMPLE_CODES[1:3]),
        (2, 4, SAMPLE_CODES[4:6]),
        (10, len(SAMPLE_CODES), []),
        (500, 0, SAMPLE_CODES),
    ],
)
def test_pages(reader: TestClient, limit: int, offset: int, expected: list[str]) -> None:
    page = reader.get("/v1/departments", params={"limit": limit, "offset": offset}).json()
    assert [d["code"] for d in page["items"]] == expected
    assert (page["total"], page["limit"], page["offset"]) == (len(SAMPLE_CODES), limit, offset)


@pytest.mark.parametrize(
    "params,loc",
    [
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 501}, ["query", "limit"]),
        ({"limit": "ten"}, ["query", "limit"]),
        ({"offset": -1}, ["query", "offset"]),
    ],
)
def test_bad_page_parameters_are_invalid_request(
    reader: TestClient, params: dict[str, Any], loc: list[str]
) -> None:
    body = _problem(reader.get("/v1/departments", params=params), 422, "invalid_request")
    assert [e["loc"] for e in body["errors"]] == [loc]


def test_create_then_read_then_list(client: TestClient) -> None:
    created = client.post(
        "/v1/departments",
        json={"code": "jyj", "name": "教育局", "name_en": "Education Bureau"},
        headers=steward_headers(client),
    )
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("code", "name", "name_en", "status")} == {
        "code": "jyj",
        "name": "教育局",
        "name_en": "Education Bureau",
        "status": "active",
    }
    assert client.get("/v1/departments/jyj").json() == body
    page = client.get("/v1/departments").json()
    assert page["total"] == len(SAMPLE_CODES) + 1
    assert [d["code"] for d in page["items"]] == sorted([*SAMPLE_CODES, "jyj"])


def test_name_en_is_optional(client: TestClient) -> None:
    response = client.post(
        "/v1/departments", json={"code": "tyj", "name": "体育局"}, headers=steward_headers(client)
    )
    assert response.status_code == 201
    assert response.json()["name_en"] == ""


def test_a_duplicate_code_is_conflict(client: TestClient) -> None:
    body = _problem(
        client.post(
            "/v1/departments", json={"code": "psb", "name": "另一个公安局"}, headers=steward_headers(client)
        ),
        409,
        "conflict",
    )
    assert "psb" in body["detail"]
    assert client.get("/v1/departments/psb").json()["name"] == "公安局"
    assert client.get("/v1/departments").json()["total"] == len(SAMPLE_CODES)


@pytest.mark.parametrize(
    "payload,loc",
    [
        ({"code": "PSB2", "name": "x"}, ["body", "code"]),
        ({"code": "a", "name": "x"}, ["body", "code"]),
        ({"code": "1dept", "name": "x"}, ["body", "code"]),
        ({"code": "tax-bureau", "name": "x"}, ["body", "code"]),
        ({"code": "d" * 33, "name": "x"}, ["body", "code"]),
        ({"code": "税务局", "name": "x"}, ["body", "code"]),
        ({"name": "x"}, ["body", "code"]),
        ({"code": "swj"}, ["body", "name"]),
        ({"code": "swj", "name": ""}, ["body", "name"]),
        ({"code": "swj", "name": "x" * 201}, ["body", "name"]),
        ({"code": "swj", "name": "税务局", "status": "disabled"}, ["body", "status"]),
    ],
    ids=[
        "upper case",
        "one character",
        "starts with a digit",
        "dash",
        "33 characters",
        "Chinese code",
        "no code",
        "no name",
        "empty name",
        "name too long",
        "status is not settable",
    ],
)
def test_invalid_bodies_name_the_field(reader: TestClient, payload: dict[str, Any], loc: list[str]) -> None:
    body = _problem(
        reader.post("/v1/departments", json=payload, headers=steward_headers(reader)), 422, "invalid_request"
    )
    assert loc in [e["loc"] for e in body["errors"]]
    assert reader.get("/v1/departments").json()["total"] == len(SAMPLE_CODES)


def test_reading_an_unknown_department_is_not_found(reader: TestClient) -> None:
    body = _problem(reader.get("/v1/departments/nosuch"), 404, "not_found")
    assert body["instance"] == "/v1/departments/nosuch"
    assert "nosuch" in body["detail"]


def test_a_created_department_is_committed_before_the_response_is_sent(
    client: TestClient, embedded: Embedded, tmp_path: Path
) -> None:
    """A 201 must mean "stored": the commit (and the gateway's cache refresh) happen before it is sent."""
    seen: dict[str, Any] = {}
    payload = json.dumps({"code": "sjj", "name": "审计局"}).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen["status"] = message["status"]
            conn = sqlite3.connect(tmp_path / "shuyuan.db")
            try:
                seen["rows"] = conn.execute("SELECT COUNT(*) FROM department WHERE code = 'sjj'").fetchone()[
                    0
                ]
            finally:
                conn.close()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/departments",
        "raw_path": b"/v1/departments",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"host", b"testserver"),
            (b"authorization", steward_headers(client)["Authorization"].encode()),  # a steward's token
        ],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
    }
    client.portal.call(embedded.app, scope, receive, send)  # type: ignore[union-attr]
    assert seen == {"status": 201, "rows": 1}

"""Sharing agreements (有条件共享) over the registry REST API."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shuyuan.sample_catalogue import AGREEMENTS
from tests.authkit import steward_headers

PROBLEM = "application/problem+json"
NOW = datetime.now(UTC).replace(microsecond=0)


def _problem(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["reason"]) == (status, reason)
    return body


def _agreement(**overrides: Any) -> dict[str, Any]:
    return {
        "consumer": "xzsp",
        "element": "person.si_months_paid",
        # The purpose must need the element (minimum necessary): public rental housing needs it.
        "service_item": "330100-GZF-001",
        "legal_basis": "《个体工商户条例》",
        "valid_from": (NOW - timedelta(days=1)).isoformat(),
        "valid_until": (NOW + timedelta(days=90)).isoformat(),
    } | overrides


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def test_list_gives_the_sample_agreements(reader: TestClient) -> None:
    listed = reader.get("/v1/agreements").json()["items"][::-1]  # a page, newest first
    assert [(a["consumer"], a["element"], a["service_item"], a["legal_basis"]) for a in listed] == [
        tuple(a) for a in AGREEMENTS
    ]
    assert {a["status"] for a in listed} == {"approved"}
    for a in listed:
        assert _parse(a["valid_from"]) < datetime.now(UTC) < _parse(a["valid_until"])


def test_create_defaults_to_requested_and_is_listed(client: TestClient) -> None:
    response = client.post("/v1/agreements", json=_agreement(), headers=steward_headers(client))
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "requested"
    assert (created["consumer"], created["element"], created["service_item"]) == (
        "xzsp",
        "person.si_months_paid",
        "330100-GZF-001",
    )
    assert _parse(created["valid_from"]) == NOW - timedelta(days=1)
    assert client.get("/v1/agreements").json()["items"][0] == created
    assert created["id"] == len(AGREEMENTS) + 1


def test_an_approved_agreement_can_be_recorded(client: TestClient) -> None:
    response = client.post(
        "/v1/agreements", json=_agreement(status="approved"), headers=steward_headers(client)
    )
    assert response.status_code == 201
    assert response.json()["status"] == "approved"


def test_times_with_an_offset_are_kept_as_the_same_instant(client: TestClient) -> None:
    beijing = (NOW + timedelta(hours=8)).replace(tzinfo=None).isoformat() + "+08:00"
    response = client.post(
        "/v1/agreements", json=_agreement(valid_from=beijing), headers=steward_headers(client)
    )
    assert response.status_code == 201
    assert _parse(response.json()["valid_from"]) == NOW


@pytest.mark.parametrize(
    "element,reason",
    [("person.si_status", "agreement_not_needed"), ("person.criminal_record", "not_shared")],
)
def test_an_agreement_for_an_element_that_is_not_conditional_is_refused(
    reader: TestClient, element: str, reason: str
) -> None:
    body = _problem(
        reader.post("/v1/agreements", json=_agreement(element=element), headers=steward_headers(reader)),
        400,
        reason,
    )
    assert element in body["detail"]
    assert reader.get("/v1/agreements").json()["total"] == len(AGREEMENTS)


@pytest.mark.parametrize("until", [timedelta(0), -timedelta(seconds=1)])
def test_the_window_must_end_after_it_starts(reader: TestClient, until: timedelta) -> None:
    payload = _agreement(valid_from=NOW.isoformat(), valid_until=(NOW + until).isoformat())
    _problem(
        reader.post("/v1/agreements", json=payload, headers=steward_headers(reader)), 400, "invalid_request"
    )


@pytest.mark.parametrize("field", ["valid_from", "valid_until"])
def test_a_time_without_an_offset_is_invalid_request(reader: TestClient, field: str) -> None:
    # A naive time is ambiguous (UTC? Beijing?) and cannot be stored: refused up front, not a 500.
    body = _problem(
        reader.post(
            "/v1/agreements",
            json=_agreement(**{field: "2026-01-01T00:00:00"}),
            headers=steward_headers(reader),
        ),
        422,
        "invalid_request",
    )
    assert ["body", field] in [e["loc"] for e in body["errors"]]


@pytest.mark.parametrize(
    "overrides,loc",
    [
        ({"status": "expired"}, ["body", "status"]),
        ({"status": "revoked"}, ["body", "status"]),
        ({"legal_basis": ""}, ["body", "legal_basis"]),
        ({"valid_from": "next week"}, ["body", "valid_from"]),
        ({"deadline": "2026-12-01"}, ["body", "deadline"]),
    ],
)
def test_invalid_bodies_name_the_field(reader: TestClient, overrides: dict[str, Any], loc: list[str]) -> None:
    body = _problem(
        reader.post("/v1/agreements", json=_agreement(**overrides), headers=steward_headers(reader)),
        422,
        "invalid_request",
    )
    assert loc in [e["loc"] for e in body["errors"]]


@pytest.mark.parametrize(
    "overrides",
    [{"consumer": "nosuch"}, {"element": "person.nope"}, {"service_item": "330100-NOPE-001"}],
    ids=["consumer", "element", "service item"],
)
def test_unknown_references_are_not_found(reader: TestClient, overrides: dict[str, Any]) -> None:
    _problem(
        reader.post("/v1/agreements", json=_agreement(**overrides), headers=steward_headers(reader)),
        404,
        "not_found",
    )
    assert reader.get("/v1/agreements").json()["total"] == len(AGREEMENTS)

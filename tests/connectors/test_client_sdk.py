"""The consumer SDK against the embedded exchange: authentication choices, refusals of the gateway,
non-ok results passed through, and values checked against the element's value schema."""

from collections.abc import Generator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from connectors.client import ConsumerClient, GatewayError
from shuyuan.app import app_state
from shuyuan.embedded import Embedded
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import fetch_token


@pytest.fixture
def token(client: TestClient, tmp_path: Path) -> str:
    """A real access token of 住建局's system."""
    return fetch_token(client, tmp_path / "keys" / "systems" / "zjj-housing.jwk", "zjj-housing")


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.calls += 1
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def _ask(sdk: ConsumerClient, embedded: Embedded, elements: list[str], subject_id: str | None = None):  # type: ignore[no-untyped-def]
    return sdk.query(
        subject_type="person",
        subject_id=subject_id or embedded.subjects.demo_person,
        elements=elements,
        service_item=HOUSING_ITEM,
        case_no="ZJJ-SDK-1",
        on_behalf_of="wang.fang",
    )


def test_an_httpx_auth_object_authenticates_every_call(
    client: TestClient, embedded: Embedded, token: str
) -> None:
    auth = _Bearer(token)
    answer = _ask(ConsumerClient(client, keys=embedded.keys["zjj"], auth=auth), embedded, ["person.name"])
    assert answer.status == "complete"
    assert auth.calls == 3  # the query, the source's keys, the element's schema


def test_without_a_token_the_gateway_refuses_and_nothing_is_opened(
    client: TestClient, embedded: Embedded
) -> None:
    client.headers.pop("Authorization", None)  # the fixture's client carries a test token by default
    with pytest.raises(GatewayError) as excinfo:
        _ask(ConsumerClient(client, keys=embedded.keys["zjj"]), embedded, ["person.name"])
    assert excinfo.value.status_code == 401 and excinfo.value.problem["reason"] == "unauthenticated"


def test_a_refused_query_is_a_gateway_error_with_the_problem(
    client: TestClient, embedded: Embedded, token: str
) -> None:
    sdk = ConsumerClient(client, keys=embedded.keys["zjj"], auth=token)
    with pytest.raises(GatewayError) as excinfo:
        _ask(sdk, embedded, ["person.name"], subject_id="110105198804190478")  # wrong check character
    assert excinfo.value.status_code == 400
    assert excinfo.value.problem["reason"] == "invalid_subject_id"


def test_denied_and_not_found_results_pass_through_without_values(
    client: TestClient, embedded: Embedded, token: str
) -> None:
    sdk = ConsumerClient(client, keys=embedded.keys["zjj"], auth=token)
    answer = _ask(
        sdk, embedded, ["person.criminal_record", "person.si_status"], embedded.subjects.person_only_in_psb
    )
    assert [r.as_dict() for r in answer.results] == [
        {
            "code": "person.criminal_record",
            "status": "denied",
            "reason": "not_necessary_for_purpose",
            "source": "psb",
            "value": None,
        },
        {
            "code": "person.si_status",
            "status": "not_found",
            "reason": "not_found",
            "source": "hrss",
            "value": None,
        },
    ]
    assert answer.status == "partial" and answer.values() == {}


def test_a_value_that_breaks_the_elements_schema_is_rejected(
    client: TestClient, embedded: Embedded, token: str
) -> None:
    engine = app_state(client.app).engine  # type: ignore[arg-type]
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE data_element SET value_schema = :s WHERE code = 'person.name'"),
            {"s": '{"type": "string", "maxLength": 1}'},
        )
        conn.execute(
            text("UPDATE data_element SET value_schema = :s WHERE code = 'person.si_status'"),
            {"s": '{"type": "string", "minLength": 1}'},
        )
    answer = _ask(
        ConsumerClient(client, keys=embedded.keys["zjj"], auth=token),
        embedded,
        ["person.name", "person.si_status"],
    )
    assert [(r.code, r.status, r.reason, r.value is None) for r in answer.results] == [
        ("person.name", "rejected", "schema_violation", True),  # every sample name is longer than 1
        ("person.si_status", "ok", None, False),
    ]

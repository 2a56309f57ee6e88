"""The citizen's view on the embedded exchange: real queries, ID tokens, restrictions and their audit."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.audit.models import AuditEntry
from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import authorize
from tests.exchange.conftest import HOUSING, as_department, query_body
from tests.exchange.test_transparency_oidc import IdP

ACCESSES = "/v1/transparency/accesses"
RESTRICTIONS = "/v1/transparency/restrictions"
Gateway = tuple[Embedded, TestClient, IdP]


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The embedded exchange trusting a local OpenID Connect provider."""
    idp = IdP(tmp_path)
    for name, value in idp.env().items():
        monkeypatch.setenv(name, value)
    embedded = build_embedded(tmp_path / "exchange")
    with TestClient(embedded.app) as client:
        authorize(client)  # department calls: a test system of zjj with every scope
        yield embedded, client, idp


def citizen(idp: IdP, person: str) -> dict[str, str]:
    """Authorization headers of a signed-in person."""
    return {"Authorization": f"Bearer {idp.token(id_number=person)}"}


def ask(client: TestClient, person: str, elements: list[str]) -> str:
    """Run a real query as zjj; its query id."""
    body = query_body(person, elements, case_no="ZJJ-2026-000123")
    response = client.post("/v1/queries", json=body)
    assert response.status_code == 200, response.text
    return str(body["query_id"])


def audit_rows(embedded: Embedded, action: str) -> list[Any]:
    """The chained audit records of one action."""
    with embedded.state.engine.connect() as conn:
        return conn.execute(select(AuditEntry).where(AuditEntry.action == action)).all()  # type: ignore[arg-type]


def test_citizen_sees_who_read_what_for_which_item_and_never_another_subject(gateway: Gateway) -> None:
    embedded, client, idp = gateway
    me, other = embedded.subjects.demo_person, embedded.subjects.all_persons[1]
    first = ask(client, me, ["person.name"])
    theirs = ask(client, other, ["person.name"])
    second = ask(client, me, ["person.name", "unknown.element"])  # the unknown element is denied

    response = client.get(ACCESSES, headers=citizen(idp, me))
    assert response.status_code == 200, response.text
    accesses = response.json()["accesses"]
    assert [a["query_id"] for a in accesses] == [second, first]  # newest first, nothing of `other`
    latest = accesses[0]
    assert latest["department"]["code"] == "zjj" and latest["department"]["name"]
    assert latest["service_item"]["code"] == HOUSING and latest["service_item"]["name"]
    assert latest["case_no"] == "ZJJ-2026-000123"
    assert [e["code"] for e in latest["elements"]] == ["person.name"]  # only what was released
    assert latest["elements"][0]["name"]
    assert me not in response.text and other not in response.text

    mine_index = embedded.state.platform_keys.blind_index("person", me)
    viewed = audit_rows(embedded, "transparency.viewed")
    assert [(r.actor_department, r.subject_index) for r in viewed] == [("citizen", mine_index)]

    theirs_view = client.get(ACCESSES, headers=citizen(idp, other)).json()["accesses"]
    assert [a["query_id"] for a in theirs_view] == [theirs]
    nobody = embedded.subjects.all_persons[2]
    assert client.get(ACCESSES, headers=citizen(idp, nobody)).json() == {"accesses": [], "next_before": None}

    page = client.get(ACCESSES, params={"limit": 1}, headers=citizen(idp, me)).json()
    assert [a["query_id"] for a in page["accesses"]] == [second]
    rest = client.get(ACCESSES, params={"limit": 1, "before": page["next_before"]}, headers=citizen(idp, me))
    assert [a["query_id"] for a in rest.json()["accesses"]] == [first]
    bad_page = client.get(ACCESSES, params={"limit": 0}, headers=citizen(idp, me))
    assert bad_page.status_code == 422 and bad_page.json()["reason"] == "invalid_request"


def test_restriction_hides_until_the_embargo_and_every_hiding_is_audited(gateway: Gateway) -> None:
    embedded, client, idp = gateway
    me = embedded.subjects.demo_person
    secret, open_query = ask(client, me, ["person.name"]), ask(client, me, ["person.name"])
    now = datetime.now(UTC)

    def restrict(embargo: datetime, headers: dict[str, str] | None = None, **extra: Any) -> Any:
        body = {"query_id": secret, "embargo_until": embargo.isoformat(), "reason": "GA-2026-17", **extra}
        return client.post(RESTRICTIONS, json=body, headers=headers)

    refused = [
        (restrict(now + timedelta(days=1), as_department(client, embedded, "xzsp")), 404, "not_found"),
        (restrict(now - timedelta(seconds=1)), 400, "invalid_request"),
        (restrict(now + timedelta(days=5 * 365)), 400, "invalid_request"),
        (restrict(now + timedelta(days=1), colour="red"), 422, "invalid_request"),
        (
            restrict(now + timedelta(days=1), {"Authorization": idp.token(id_number=me)}),
            401,
            "unauthenticated",
        ),
    ]
    for response, status, reason in refused:
        assert (response.status_code, response.json()["reason"]) == (status, reason), response.text
    assert audit_rows(embedded, "transparency.restricted") == []  # nothing refused was recorded as done

    embargo = datetime.now(UTC) + timedelta(seconds=2)
    created = restrict(embargo)
    assert created.status_code == 201, created.text
    assert created.json()["department"] == "zjj" and created.json()["created_by"] == "zjj-test"
    index = embedded.state.platform_keys.blind_index("person", me)
    [restricted] = audit_rows(embedded, "transparency.restricted")
    assert (restricted.actor_department, restricted.request_id, restricted.subject_index) == (
        "zjj",
        secret,
        index,
    )

    hidden_view = client.get(ACCESSES, headers=citizen(idp, me)).json()
    assert [a["query_id"] for a in hidden_view["accesses"]] == [open_query]
    assert secret not in str(hidden_view)
    [hidden] = audit_rows(embedded, "transparency.hidden")
    assert (hidden.actor_department, hidden.subject_index, hidden.request_id) == ("citizen", index, secret)
    assert hidden.service_item == HOUSING and hidden.decision == "deny"

    time.sleep(max(0.0, (embargo - datetime.now(UTC)).total_seconds()) + 0.1)
    revealed = client.get(ACCESSES, headers=citizen(idp, me)).json()
    assert [a["query_id"] for a in revealed["accesses"]] == [open_query, secret]
    assert len(audit_rows(embedded, "transparency.hidden")) == 1  # nothing hidden the second time
    assert len(audit_rows(embedded, "transparency.viewed")) == 2


def test_only_a_valid_id_token_opens_the_view(gateway: Gateway) -> None:
    embedded, client, idp = gateway
    me = embedded.subjects.demo_person
    ask(client, me, ["person.name"])
    department_token = client.headers["Authorization"]  # a real access token of zjj-test
    bad = [
        {"Authorization": ""},
        {"Authorization": department_token},
        {"Authorization": f"Bearer {idp.token(id_number=me, iss='https://other.example.test')}"},
        {"Authorization": f"Bearer {idp.token(id_number=me, aud='other-client')}"},
        {"Authorization": f"Bearer {idp.token(id_number=me, exp=int(time.time()) - 600)}"},
        {"Authorization": f"Bearer {idp.token(id_number=me)[:-4]}AAAA"},
        {"Authorization": f"Bearer {idp.token(id_number=me).split('.')[0]}.e30."},
    ]
    none_header = "eyJhbGciOiJub25lIiwia2lkIjoiaWRwLTEifQ"  # {"alg":"none","kid":"idp-1"}
    payload = idp.token(id_number=me).split(".")[1]
    bad.append({"Authorization": f"Bearer {none_header}.{payload}."})
    for headers in bad:
        response = client.get(ACCESSES, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["reason"] == "unauthenticated"
    assert audit_rows(embedded, "transparency.viewed") == []
    # And a citizen's ID token opens nothing meant for departments.
    query = client.post("/v1/queries", json=query_body(me, ["person.name"]), headers=citizen(idp, me))
    assert query.status_code == 401 and query.json()["reason"] == "unauthenticated"


def test_an_element_whose_source_failed_is_not_listed_as_read(gateway: Gateway) -> None:
    embedded, client, idp = gateway
    me = embedded.subjects.demo_person

    def hrss_down(request: Any) -> Any:
        raise ConnectionError("hrss is down")

    embedded.transport.register("hrss", hrss_down)
    query_id = ask(client, me, ["person.name", "person.si_status"])
    stmt = select(AuditEntry.action).where(AuditEntry.request_id == query_id)  # type: ignore[call-overload]
    with embedded.state.engine.connect() as conn:
        steps = conn.execute(stmt).scalars().all()
    assert "source.failed" in steps and steps.count("element.decided") == 2
    [access] = client.get(ACCESSES, headers=citizen(idp, me)).json()["accesses"]
    assert [e["code"] for e in access["elements"]] == ["person.name"]
    # A query that delivered nothing of the subject is no access at all.
    ask(client, me, ["person.si_status"])
    assert len(client.get(ACCESSES, headers=citizen(idp, me)).json()["accesses"]) == 1

"""Bulk queries on the embedded exchange: many subjects, one purpose; each subject is one audited query,
streamed back as NDJSON; refusals per subject with their reason; the SDK opens every answer."""

import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from connectors.bulk import query_bulk
from connectors.client import ConsumerClient
from exchange.audit.models import AuditEntry
from shuyuan.embedded import Embedded
from tests.authkit import now_iso
from tests.exchange.conftest import HOUSING, SOLE_TRADER, as_department

BULK = "/v1/bulk-queries"


def bulk_body(
    subjects: list[str], elements: list[str], *, item: str = HOUSING, **extra: Any
) -> dict[str, Any]:
    """A POST /v1/bulk-queries body about persons."""
    return {
        "bulk_id": "bulk-subsidy-2026-12",
        "subjects": [{"type": "person", "id": s} for s in subjects],
        "elements": elements,
        "purpose": {"service_item": item, "case_no": "BT-2026-0001"},
        "on_behalf_of": "li.ming",
        "requested_at": now_iso(),
    } | extra


def lines(response: Any) -> list[dict[str, Any]]:
    """The NDJSON answer's lines."""
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def released(embedded: Embedded, prefix: str) -> int:
    """How many `query.released` records the chain holds for the bulk's queries."""
    with embedded.state.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "query.released", AuditEntry.request_id.startswith(prefix))  # type: ignore[attr-defined,arg-type]
            ).scalar_one()
        )


def test_each_subject_is_one_audited_query_and_the_answers_stream_back(
    client: TestClient, embedded: Embedded
) -> None:
    people = list(embedded.subjects.all_persons[:20])
    unknown = embedded.subjects.unknown_person
    response = client.post(
        BULK,
        json=bulk_body([*people, unknown], ["person.name", "person.si_status"]),
        headers=as_department(client, embedded, "zjj"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    *answers, summary = lines(response)
    assert summary == {
        "summary": "bulk",
        "bulk_id": "bulk-subsidy-2026-12",
        "subjects": 21,
        "answered": 21,
        "refused": 0,
        "reasons": {},
    }
    assert sorted(a["index"] for a in answers) == list(range(21))
    by_index = {a["index"]: a for a in answers}
    assert by_index[3]["query_id"] == "bulk-subsidy-2026-12.00003"
    assert by_index[20]["answer"]["results"][0]["status"] == "not_found"  # unknown to psb
    assert not any(p in response.text for p in people)  # no identifier in the clear: values are JWE
    assert released(embedded, "bulk-subsidy-2026-12.") == 21  # one audited release per subject


def test_the_sdk_opens_every_answer_and_a_replay_returns_the_stored_ones(
    client: TestClient, embedded: Embedded, register: Callable[[str, str, str], Any]
) -> None:
    people = list(embedded.subjects.all_persons[:5])
    token = as_department(client, embedded, "zjj")["Authorization"].removeprefix("Bearer ")
    zjj = ConsumerClient(client, keys=embedded.keys["zjj"], auth=token)
    args = {
        "subject_type": "person",
        "subject_ids": people,
        "elements": ["person.name"],
        "service_item": HOUSING,
        "case_no": "BT-2026-0002",
        "on_behalf_of": "li.ming",
        "bulk_id": "bulk-sdk-000001",
    }
    first = query_bulk(zjj, **args)
    assert [i.subject_id for i in first.items] == people
    assert all(i.answer is not None and i.answer.status == "complete" for i in first.items)
    names = {p: register("psb", "hukou_person", p)["name"] for p in people}
    assert [i.answer.values()["person.name"] for i in first.items if i.answer] == [names[p] for p in people]
    again = query_bulk(zjj, **args)  # idempotent per subject: the stored answers, not new releases
    assert [i.answer.values() for i in again.items if i.answer] == [
        i.answer.values() for i in first.items if i.answer
    ]
    assert released(embedded, "bulk-sdk-000001.") == 5


def test_refusals_are_per_subject_with_their_reason_and_audited(
    client: TestClient, embedded: Embedded
) -> None:
    people = list(embedded.subjects.all_persons[:3])
    # The conditional income proxies are agreed for public rental housing only: for a sole trader's
    # registration every subject gets the element denied, each on its own audited record.
    response = client.post(
        BULK,
        json=bulk_body(people, ["person.si_contribution_base"], item=SOLE_TRADER, bulk_id="bulk-denied-0001"),
        headers=as_department(client, embedded, "xzsp"),
    )
    *answers, summary = lines(response)
    assert summary["answered"] == 3
    for a in answers:
        [result] = a["answer"]["results"]
        assert (result["status"], result["reason"]) == ("denied", "not_necessary_for_purpose")
    with embedded.state.engine.connect() as conn:
        denied = conn.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.request_id.startswith("bulk-denied-0001."),  # type: ignore[attr-defined]
                AuditEntry.decision == "deny",
            )
        ).scalar_one()
    assert denied >= 3
    # A malformed identifier refuses that subject only, with its reason code.
    bad = client.post(
        BULK,
        json=bulk_body([people[0], "110101199001011234"], ["person.name"], bulk_id="bulk-badid-0001"),
        headers=as_department(client, embedded, "zjj"),
    )
    *answers, summary = lines(bad)
    assert (summary["answered"], summary["refused"], summary["reasons"]) == (1, 1, {"invalid_subject_id": 1})
    [refused] = [a for a in answers if "problem" in a]
    assert (refused["index"], refused["problem"]["status"], refused["problem"]["reason"]) == (
        1,
        400,
        "invalid_subject_id",
    )


def test_bad_bulk_bodies_are_refused_whole(client: TestClient, embedded: Embedded) -> None:
    zjj = as_department(client, embedded, "zjj")
    person = embedded.subjects.demo_person
    twice = client.post(BULK, json=bulk_body([person, person], ["person.name"]), headers=zjj)
    assert (twice.status_code, twice.json()["reason"]) == (422, "invalid_request")
    stale = client.post(
        BULK, json=bulk_body([person], ["person.name"], requested_at="2020-01-01T00:00:00+00:00"), headers=zjj
    )
    assert (stale.status_code, stale.json()["reason"]) == (400, "invalid_request")
    too_many = client.post(
        BULK,
        json=bulk_body([f"x{i}" for i in range(501)], ["person.name"]),  # the default limit is 500
        headers=zjj,
    )
    assert (too_many.status_code, too_many.json()["reason"]) == (400, "invalid_request")
    unauthenticated = client.post(
        BULK, json=bulk_body([person], ["person.name"]), headers={"Authorization": ""}
    )
    assert unauthenticated.status_code == 401

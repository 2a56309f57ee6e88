"""The dispute flag (异议标注): while a correction is open, every consumer's answer of that element for
that subject carries `disputed` and the correction id, outside the source's signed value."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.client import ConsumerClient
from shuyuan.embedded import Embedded
from tests.exchange.conftest import SOLE_TRADER, as_department, query_body
from tests.exchange.test_corrections_api import filed, move

CLOSINGS = [("fixed", "psb"), ("rejected", "psb"), ("withdrawn", "zjj")]


def ask_as_xzsp(client: TestClient, embedded: Embedded, person: str, query_id: str | None = None) -> Any:
    """xzsp (a second consumer) asks for person.name and person.gender of the person."""
    body = query_body(person, ["person.name", "person.gender"], item=SOLE_TRADER, query_id=query_id)
    response = client.post("/v1/queries", json=body, headers=as_department(client, embedded, "xzsp"))
    assert response.status_code == 200, response.text
    return response


def flags(response: Any) -> dict[str, tuple[bool, str | None]]:
    """code -> (disputed, correction_id) of a query response."""
    return {r["code"]: (r["disputed"], r["correction_id"]) for r in response.json()["results"]}


@pytest.mark.parametrize(("closing", "by"), CLOSINGS)
def test_every_consumer_sees_the_flag_while_open_and_not_after(
    client: TestClient, embedded: Embedded, closing: str, by: str
) -> None:
    cid, person = filed(client, embedded)
    first = ask_as_xzsp(client, embedded, person)
    assert flags(first) == {"person.name": (True, cid), "person.gender": (False, None)}
    other = ask_as_xzsp(client, embedded, embedded.subjects.all_persons[1])
    assert flags(other)["person.name"] == (False, None)  # another subject's name is not disputed

    # The SDK exposes it; the value is still the source's, verified as ever.
    sdk = ConsumerClient(
        client,
        keys=embedded.keys["xzsp"],
        auth=as_department(client, embedded, "xzsp")["Authorization"].split()[1],
    )
    [name, gender] = sdk.open(first.json(), subject_type="person", subject_id=person).results
    assert (name.status, name.disputed, name.correction_id) == ("ok", True, cid) and name.value
    assert name.as_dict()["disputed"] is True and "disputed" not in gender.as_dict()

    headers = as_department(client, embedded, by)
    if closing != "withdrawn":
        assert move(client, cid, headers, "accepted").status_code == 200
    assert move(client, cid, headers, closing, reason="核实后处理").status_code == 200
    later = ask_as_xzsp(client, embedded, person)
    assert flags(later)["person.name"] == (False, None)
    # A replay of the earlier query_id gets the flag as it stands now: the stored answer holds none.
    replay = ask_as_xzsp(client, embedded, person, query_id=first.json()["query_id"])
    assert flags(replay)["person.name"] == (False, None)
    assert [r["jwe"] for r in replay.json()["results"]] == [r["jwe"] for r in first.json()["results"]]


def test_a_replay_while_open_is_flagged_and_the_flag_is_outside_the_signed_value(
    client: TestClient, embedded: Embedded
) -> None:
    person = embedded.subjects.demo_person
    before = ask_as_xzsp(client, embedded, person)
    assert flags(before)["person.name"] == (False, None)
    cid, _ = filed(client, embedded, person)
    replay = ask_as_xzsp(client, embedded, person, query_id=before.json()["query_id"])
    assert flags(replay)["person.name"] == (True, cid)
    # The very same JWE as before the correction: the source's signed value is untouched.
    assert replay.json()["results"][0]["jwe"] == before.json()["results"][0]["jwe"]
    # The filer's own later answers are flagged too.
    again = client.post(
        "/v1/queries",
        json=query_body(person, ["person.name"]),
        headers=as_department(client, embedded, "zjj"),
    )
    assert again.json()["results"][0]["disputed"] is True

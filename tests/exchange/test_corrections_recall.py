"""Correction recall: the departments that received the old value are found from the audit chain."""

from datetime import timedelta

from fastapi.testclient import TestClient

from exchange.corrections.recall import receivers_of
from protocol.clock import utcnow
from shuyuan.embedded import Embedded
from tests.exchange.test_corrections_api import query


def test_every_department_that_received_the_element_about_the_subject_is_found(
    client: TestClient, embedded: Embedded
) -> None:
    person = embedded.subjects.demo_person
    other = next(p for p in embedded.subjects.all_persons if p != person)
    since = utcnow() - timedelta(seconds=1)
    zjj_first = query(client, embedded, "zjj", person, ["person.name", "person.gender"])
    zjj_again = query(client, embedded, "zjj", person, ["person.name"])
    xzsp = query(client, embedded, "xzsp", person, ["person.name"])
    query(client, embedded, "zjj", person, ["person.gender"])  # not the element
    query(client, embedded, "xzsp", other, ["person.name"])  # not the subject
    subject_index = embedded.state.platform_keys.blind_index("person", person)

    found = receivers_of(
        engine=embedded.state.engine,
        element="person.name",
        subject_index=subject_index,
        since=since,
        until=utcnow() + timedelta(seconds=1),
    )
    assert found == {"xzsp": [xzsp], "zjj": sorted([zjj_first, zjj_again])}
    # Outside the window (the fix came before these queries, or retention ended): nobody.
    assert (
        receivers_of(
            engine=embedded.state.engine,
            element="person.name",
            subject_index=subject_index,
            since=since,
            until=since,
        )
        == {}
    )

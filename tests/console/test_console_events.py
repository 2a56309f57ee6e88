"""The event pages: the delivery board (metadata only, filtered, paged) and the event types."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from console.settings import ConsoleSettings
from console.users import service as users
from exchange.events.models import Delivery, Event
from protocol.clock import utcnow
from registry.db import unit_of_work
from shuyuan.app import app_state
from shuyuan.embedded import build_embedded

SETTINGS = ConsoleSettings(environment="test", page_size=5)
PASSWORD = "event-board-password"
SECRET_COPY = "eyJhbGciOiJFQ0RILUVTIn0.SECRET-COPY-CIPHERTEXT"
SUBJECT_INDEX = "cd" * 32


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Engine]]:
    """An embedded exchange with a viewer signed in and seven events, one dead-lettered delivery."""
    embedded = build_embedded(tmp_path_factory.mktemp("event-board"), console_settings=SETTINGS)
    with TestClient(embedded.app) as client:
        engine = app_state(client.app).engine  # type: ignore[arg-type]
        with unit_of_work(engine) as session:
            users.create(
                session=session, username="viewer", password=PASSWORD, role="viewer", settings=SETTINGS
            )
        now = utcnow()
        with engine.begin() as conn:
            for i in range(7):
                eid = f"ev-{i:02d}"
                conn.execute(
                    insert(Event.__table__),  # type: ignore[attr-defined]
                    {
                        "id": eid,
                        "type": "license.issued" if i else "household.moved",
                        "publisher": "scjgj",
                        "published_by": "scjgj-system",
                        "subject_type": "org",
                        "subject_index": SUBJECT_INDEX,
                        "routing": {"district": "xh"},
                        "body_digest": "ab" * 32,
                        "published_at": now - timedelta(minutes=10 - i),
                    },
                )
                conn.execute(
                    insert(Delivery.__table__),  # type: ignore[attr-defined]
                    {
                        "id": f"{i:032x}",
                        "event_id": eid,
                        "recipient": "zjj",
                        "state": "dead_lettered" if i == 3 else "acknowledged",
                        "copy_jwe": SECRET_COPY,
                        "attempts": 5 if i == 3 else 1,
                        "reason": "invalid_signature" if i == 3 else None,
                        "updated_at": now,
                    },
                )
        page = client.get("/console/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        data = {"username": "viewer", "password": PASSWORD, "csrf_token": token.group(1)}
        assert client.post("/console/login", data=data, follow_redirects=False).status_code == 303
        yield client, engine


def test_board_pages_newest_first_and_shows_no_payload(board: tuple[TestClient, Engine]) -> None:
    client, _ = board
    first = client.get("/console/events")
    assert first.status_code == 200
    ids = re.findall(r'data-event="([^"]+)"', first.text)
    assert ids == ["ev-06", "ev-05", "ev-04", "ev-03", "ev-02"]
    assert SECRET_COPY not in first.text and SUBJECT_INDEX not in first.text
    assert 'title="' in first.text and "district=xh" in first.text
    second = client.get("/console/events?page=2")
    assert re.findall(r'data-event="([^"]+)"', second.text) == ["ev-01", "ev-00"]


def test_board_filters_by_state_type_and_department(board: tuple[TestClient, Engine]) -> None:
    client, _ = board
    dead = client.get("/console/events?state=dead_lettered").text
    assert re.findall(r'data-event="([^"]+)"', dead) == ["ev-03"]
    assert "invalid_signature" in dead and 'data-state="dead_lettered"' in dead
    moved = client.get("/console/events?type=household.moved").text
    assert re.findall(r'data-event="([^"]+)"', moved) == ["ev-00"]
    assert not re.findall(r'data-event="', client.get("/console/events?department=nobody").text)
    assert len(re.findall(r'data-event="', client.get("/console/events?department=zjj").text)) == 5


def test_event_types_page_lists_the_catalogue(board: tuple[TestClient, Engine]) -> None:
    client, _ = board
    page = client.get("/console/event-types")
    assert page.status_code == 200
    assert 'id="event-types-table"' in page.text and 'id="subscriptions-table"' in page.text
    assert "/console/events" in client.get("/console/corrections").text  # the navigation links it

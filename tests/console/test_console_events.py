"""The event pages: the delivery board (metadata only, filtered, paged) and the event types."""

import json
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
from registry.event_types import service as event_types
from registry.pagination import PageParams
from shuyuan.app import app_state
from shuyuan.embedded import build_embedded

SETTINGS = ConsoleSettings(environment="test", page_size=5)
PASSWORD = "event-board-password"
SECRET_COPY = "eyJhbGciOiJFQ0RILUVTIn0.SECRET-COPY-CIPHERTEXT"
SUBJECT_INDEX = "cd" * 32
SCHEMA = {"type": "object", "required": ["district"], "properties": {"district": {"type": "string"}}}


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Engine]]:
    """An embedded exchange with a viewer signed in and seven events, one dead-lettered delivery."""
    embedded = build_embedded(tmp_path_factory.mktemp("event-board"), console_settings=SETTINGS)
    with TestClient(embedded.app) as client:
        engine = app_state(client.app).engine  # type: ignore[arg-type]
        with unit_of_work(engine) as session:
            for role in ("viewer", "steward"):
                users.create(session=session, username=role, password=PASSWORD, role=role, settings=SETTINGS)
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
        _sign_in(client, "viewer")
        yield client, engine


def _token(html: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token
    return token.group(1)


def _sign_in(client: TestClient, username: str) -> None:
    client.post("/console/logout", data={"csrf_token": _token(client.get("/console/login").text)})
    data = {
        "username": username,
        "password": PASSWORD,
        "csrf_token": _token(client.get("/console/login").text),
    }
    assert client.post("/console/login", data=data, follow_redirects=False).status_code == 303


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


def test_a_steward_registers_an_event_type_and_bad_input_is_refused_inline(
    board: tuple[TestClient, Engine],
) -> None:
    client, engine = board
    with unit_of_work(engine) as session:
        found, _ = event_types.list_(session=session, page=PageParams(limit=1, offset=0))
        source = event_types.to_read(session=session, event_type=found[0]).source
    _sign_in(client, "steward")
    try:
        form = {
            "csrf_token": _token(client.get("/console/event-types").text),
            "code": "permit.renewed",
            "name": "许可证延续",
            "source": source,
            "routing_fields": "district",
            "payload_schema": json.dumps(SCHEMA),
        }
        done = client.post("/console/event-types", data=form, follow_redirects=False)
        assert done.status_code == 303, re.findall(r"class=\"error\"[^<]*>([^<]*)", done.text)
        assert 'data-event-type="permit.renewed"' in client.get("/console/event-types?page=1").text or (
            "permit.renewed" in client.get("/console/event-types?page=2").text
        )
        again = client.post("/console/event-types", data=form)  # one code, one type: refused by reason
        assert again.status_code >= 400 and 'id="e-all"' in again.text
        bad_json = client.post("/console/event-types", data=form | {"payload_schema": "{"})
        assert bad_json.status_code == 422 and 'id="e-payload_schema"' in bad_json.text
        bad_code = client.post("/console/event-types", data=form | {"code": "permit.x", "name": ""})
        assert bad_code.status_code == 422 and 'id="e-name"' in bad_code.text
    finally:
        _sign_in(client, "viewer")
    token = _token(client.get("/console/events").text)
    denied = client.post("/console/event-types", data=form | {"csrf_token": token, "code": "permit.other"})
    assert denied.status_code == 403

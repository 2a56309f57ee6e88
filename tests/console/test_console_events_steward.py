"""A steward's event workflows in the console: subscriptions added and removed through the registry's
service (refusals inline with their reason code), and dead letters listed and redelivered (audited)."""

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from console.settings import ConsoleSettings
from console.users import service as users
from exchange.audit.models import AuditEntry
from exchange.events.models import Delivery, Event
from protocol.clock import utcnow
from registry.db import unit_of_work
from registry.pagination import PageParams
from registry.subscriptions import service as subscriptions
from shuyuan.app import app_state
from shuyuan.embedded import Embedded, build_embedded
from shuyuan.sample_catalogue import INSPECTION_RESULT, LICENSE_ISSUED
from tests.console.test_console_events import PASSWORD, SECRET_COPY, SUBJECT_INDEX, _sign_in, _token

SETTINGS = ConsoleSettings(environment="test", page_size=5)
DL = Delivery.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Embedded]]:
    """An embedded exchange with a viewer and a steward; six dead-lettered and one overdue delivery."""
    embedded = build_embedded(tmp_path_factory.mktemp("event-steward"), console_settings=SETTINGS)
    with TestClient(embedded.app) as client:
        engine = app_state(client.app).engine  # type: ignore[arg-type]
        client.portal.call(embedded.state.events.redeliverer.stop)  # these rows are looked at, not retried
        with unit_of_work(engine) as session:
            for role in ("viewer", "steward"):
                users.create(session=session, username=role, password=PASSWORD, role=role, settings=SETTINGS)
        _failed_deliveries(engine)
        _sign_in(client, "steward")
        yield client, embedded


def _failed_deliveries(engine: Engine) -> None:
    now = utcnow()
    with engine.begin() as conn:
        for i in range(7):
            eid = f"dl-event-{i:02d}"
            conn.execute(
                insert(Event.__table__),  # type: ignore[attr-defined]
                {
                    "id": eid,
                    "type": INSPECTION_RESULT if i == 0 else LICENSE_ISSUED,
                    "publisher": "amr" if i == 0 else "xzsp",
                    "published_by": "sample-system",
                    "subject_type": "enterprise",
                    "subject_index": SUBJECT_INDEX,
                    "routing": {},
                    "body_digest": "ab" * 32,
                    "published_at": now - timedelta(minutes=30),
                },
            )
            conn.execute(
                insert(DL),
                {
                    "id": f"d{i:031x}",
                    "event_id": eid,
                    "recipient": "xzsp" if i == 0 else ("fso" if i == 6 else "amr"),
                    "state": "overdue" if i == 6 else "dead_lettered",
                    "copy_jwe": SECRET_COPY,
                    "attempts": 5 if i == 6 else 1,
                    "reason": "not_acknowledged" if i == 6 else "unknown_key",
                    "updated_at": now - timedelta(minutes=10 - i),
                },
            )


def _ids(html: str, attr: str) -> list[str]:
    return re.findall(rf'{attr}="([^"]+)"', html)


def _subscription_form(client: TestClient, **fields: str) -> dict[str, str]:
    token = _token(client.get("/console/event-types").text)
    return {
        "csrf_token": token,
        "subscriber": "zjj",
        "source": "xzsp",
        "event_types": LICENSE_ISSUED,
    } | fields


def _subscription_ids(embedded: Embedded, subscriber: str) -> list[int]:
    with unit_of_work(embedded.state.engine) as session:
        found, _ = subscriptions.list_(session=session, page=PageParams(limit=50), subscriber=subscriber)
        return [s.id for s in found if s.id is not None]


def _subscription_count(embedded: Embedded) -> int:
    with unit_of_work(embedded.state.engine) as session:
        return subscriptions.list_(session=session, page=PageParams(limit=1))[1]


def test_a_steward_adds_a_subscription_with_conditions_and_removes_it(
    console: tuple[TestClient, Embedded],
) -> None:
    client, embedded = console
    conditions = "business_scope contains 住房\nlicence_type in food_business_licence，business_licence"
    added = client.post(
        "/console/event-types/subscriptions", data=_subscription_form(client, conditions=conditions)
    )
    assert added.status_code == 200 and "已新增订阅" in added.text
    (sid,) = _subscription_ids(embedded, "zjj")
    with unit_of_work(embedded.state.engine) as session:
        stored = subscriptions.to_read(session=session, subscription=subscriptions.get_or_raise(
            session=session, subscription_id=sid
        ))  # fmt: skip
    assert [c.model_dump() for c in stored.conditions] == [
        {"field": "business_scope", "op": "contains", "value": "住房"},
        {"field": "licence_type", "op": "in", "value": ["food_business_licence", "business_licence"]},
    ]
    row = re.search(rf'<tr data-subscription="{sid}">(.*?)</tr>', added.text, re.S)
    assert row and "business_scope contains 住房" in row.group(1)
    assert "licence_type in food_business_licence, business_licence" in row.group(1)

    token = _token(client.get("/console/event-types").text)
    removed = client.post(f"/console/event-types/subscriptions/{sid}/remove", data={"csrf_token": token})
    assert removed.status_code == 200 and f'data-subscription="{sid}"' not in removed.text
    assert _subscription_ids(embedded, "zjj") == []
    again = client.post(f"/console/event-types/subscriptions/{sid}/remove", data={"csrf_token": token})
    assert "not_found" in again.text  # flashed with its reason code
    with embedded.state.engine.connect() as conn:
        audited = conn.execute(
            select(AuditEntry.action, AuditEntry.actor_user).where(
                AuditEntry.request_id == f"subscription:{sid}"
            )
        ).all()
    assert [a for a, _ in audited] == ["registry.subscription.created", "registry.subscription.deleted"]
    assert all(user and user.startswith("console-user:") for _, user in audited)


@pytest.mark.parametrize(
    ("fields", "where", "says"),
    [
        # The registry's own refusals, with the API's reason codes, next to the form.
        ({"source": "amr"}, "se-all", "invalid_request"),  # amr is not license.issued's source
        ({"conditions": "enterprise_name equals 某某"}, "se-all", "not a routing field"),
        ({"subscriber": "xzsp"}, "se-all", "invalid_request"),  # a department does not subscribe to itself
        ({"subscriber": "fso"}, "se-all", "conflict"),  # fso hears of xzsp's licences already
        ({"subscriber": "nobody"}, "se-all", "not_found"),
        # The form's own checks.
        ({"conditions": "business_scope 食品"}, "se-conditions", "第 1 行"),
        ({"event_types": ""}, "se-event_types", "取值无效"),
    ],
)
def test_a_refused_subscription_is_shown_inline_with_its_reason(
    console: tuple[TestClient, Embedded], fields: dict[str, str], where: str, says: str
) -> None:
    client, embedded = console
    before = _subscription_count(embedded)
    refused = client.post("/console/event-types/subscriptions", data=_subscription_form(client, **fields))
    assert refused.status_code >= 400
    shown = re.search(rf'id="{where}">([^<]*)<', refused.text)
    assert shown and says in shown.group(1), refused.text[-3000:]
    assert _subscription_count(embedded) == before


def test_dead_letters_are_paged_filtered_and_show_no_copy(console: tuple[TestClient, Embedded]) -> None:
    client, _ = console
    first = client.get("/console/events/dead-letters")
    assert first.status_code == 200
    assert _ids(first.text, "data-event") == [f"dl-event-{i:02d}" for i in (5, 4, 3, 2, 1)]
    assert SECRET_COPY not in first.text and SUBJECT_INDEX not in first.text
    assert "unknown_key" in first.text and "<time" in first.text
    assert _ids(client.get("/console/events/dead-letters?page=2").text, "data-event") == ["dl-event-00"]
    by_type = client.get(f"/console/events/dead-letters?type={INSPECTION_RESULT}").text
    assert _ids(by_type, "data-event") == ["dl-event-00"]
    assert _ids(client.get("/console/events/dead-letters?publisher=amr").text, "data-event") == [
        "dl-event-00"
    ]
    assert len(_ids(client.get("/console/events/dead-letters?recipient=amr").text, "data-event")) == 5
    overdue = client.get("/console/events/dead-letters?state=overdue").text
    assert _ids(overdue, "data-event") == ["dl-event-06"] and "not_acknowledged" in overdue
    board = client.get("/console/events").text
    assert 'href="/console/events/dead-letters"' in board  # linked from the board and the sidebar


def test_a_steward_redelivers_a_dead_letter_and_it_is_audited(console: tuple[TestClient, Embedded]) -> None:
    client, embedded = console
    delivery = f"d{3:031x}"
    token = _token(client.get("/console/events/dead-letters").text)
    sent = len(embedded.transport.events.get("amr", []))
    done = client.post(f"/console/events/dead-letters/{delivery}/redeliver", data={"csrf_token": token})
    assert done.status_code == 200 and "已重新投递" in done.text
    assert f'data-delivery="{delivery}"' not in done.text
    copy, headers = embedded.transport.events["amr"][-1]
    assert len(embedded.transport.events["amr"]) == sent + 1 and copy == SECRET_COPY.encode()
    assert dict(headers)["delivery-id"] == delivery.encode()
    with embedded.state.engine.connect() as conn:
        state = conn.execute(select(DL.c.state, DL.c.attempts).where(DL.c.id == delivery)).one()
        audited = conn.execute(
            select(AuditEntry.action, AuditEntry.actor_system, AuditEntry.reason).where(
                AuditEntry.request_id == "event:dl-event-03"
            )
        ).all()
    assert tuple(state) == ("sent", 1)
    assert [tuple(a) for a in audited] == [("event.redelivered", "console:steward", "steward_redelivery")]
    twice = client.post(f"/console/events/dead-letters/{delivery}/redeliver", data={"csrf_token": token})
    assert "invalid_transition" in twice.text


def test_a_viewer_sees_the_pages_but_is_refused_every_steward_action(
    console: tuple[TestClient, Embedded],
) -> None:
    client, _ = console
    _sign_in(client, "viewer")
    try:
        types_page = client.get("/console/event-types").text
        assert 'id="subscription-form"' not in types_page and "/remove" not in types_page
        dead = client.get("/console/events/dead-letters").text
        assert "/redeliver" not in dead and 'id="dead-letters-table"' in dead
        token = _token(dead)
        steps: list[tuple[str, dict[str, Any]]] = [
            ("/console/event-types/subscriptions", {"subscriber": "zjj", "source": "xzsp"}),
            ("/console/event-types/subscriptions/1/remove", {}),
            (f"/console/events/dead-letters/d{1:031x}/redeliver", {}),
        ]
        for path, data in steps:
            assert client.post(path, data={"csrf_token": token} | data).status_code == 403, path
    finally:
        _sign_in(client, "steward")

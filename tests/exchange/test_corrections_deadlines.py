"""Corrections' deadlines in working days (per source department, holidays and 调休) and escalation."""

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from exchange.corrections import service
from exchange.corrections.models import Correction, CorrectionIn
from exchange.corrections.settings import CorrectionsSettings, Deadlines
from exchange.corrections.states import MOVES, OPEN, STATES, check_move
from registry.agreements.deadlines import CST, WorkingCalendar
from registry.errors import Forbidden, InvalidTransition
from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import authorize
from tests.exchange.conftest import as_department
from tests.exchange.test_corrections_api import CORRECTIONS, audit_rows, filed, steward

NATIONAL_DAY = WorkingCalendar(  # 2026, as configured from the State Council notice
    holidays=frozenset(date(2026, 10, d) for d in range(1, 8)),
    makeup_workdays=frozenset({date(2026, 9, 27), date(2026, 10, 10)}),
)


def test_the_state_machine_has_exactly_the_documented_moves() -> None:
    source = frozenset({"source"})
    check_move("reported", "accepted", source)  # type: ignore[arg-type]
    check_move("wrong_source", "reported", frozenset({"steward"}))  # type: ignore[arg-type]
    with pytest.raises(Forbidden):
        check_move("reported", "accepted", frozenset({"filer", "steward"}))  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition):
        check_move("fixed", "reported", frozenset({"steward"}))  # type: ignore[arg-type]
    # Nothing leaves a closed state; everything open may be withdrawn and forwarded.
    assert not [key for key in MOVES if key[0] not in OPEN]
    assert all((s, "withdrawn") in MOVES and (s, "reported") in MOVES for s in OPEN)
    assert {to for _, to in MOVES} == set(STATES)


def test_deadlines_are_working_days_of_the_source_department_across_the_national_day() -> None:
    settings = CorrectionsSettings(department_deadlines={"psb": Deadlines(take_up=2, close=4)})
    body = CorrectionIn.model_validate(
        {
            "element": "person.name",
            "subject": {"type": "person", "id": "x"},
            "query_id": "q-00000001",
            "problem": "p",
        }
    )
    now = datetime(2026, 9, 29, 16, tzinfo=CST)  # Tuesday before the golden week

    def due(source: str) -> tuple[date, date]:
        values = service.filing(
            correction_id="c" * 32,
            correction_in=body,
            filer="zjj",
            filed_by="zjj-housing",
            source=source,
            subject_index="i",
            proposed_sealed=None,
            subject_sealed=b"sealed subject",
            now=now,
            calendar=NATIONAL_DAY,
            settings=settings,
        ).values
        return values["take_up_due"].astimezone(CST).date(), values["close_due"].astimezone(CST).date()

    # psb: 2 and 4 working days: Sep 30, (holiday) Oct 8 | Oct 9, Sat Oct 10 (调休).
    assert due("psb") == (date(2026, 10, 8), date(2026, 10, 10))
    # The defaults, 5 and 15: Sep 30, Oct 8, 9, 10 (调休), 12 ... Oct 26.
    assert due("hrss") == (date(2026, 10, 12), date(2026, 10, 26))


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Embedded, TestClient]]:
    """The embedded exchange with psb's own correction deadlines and a holiday calendar."""
    monkeypatch.setenv("SHUYUAN_CORRECTIONS_DEPARTMENT_DEADLINES", '{"psb": {"take_up": 1, "close": 3}}')
    monkeypatch.setenv("SHUYUAN_REGISTRY_HOLIDAYS", '["2026-10-01", "2026-10-02"]')
    monkeypatch.setenv("SHUYUAN_REGISTRY_MAKEUP_WORKDAYS", '["2026-09-27"]')
    embedded = build_embedded(tmp_path)
    with TestClient(embedded.app) as client:
        authorize(client)
        yield embedded, client


def _set(embedded: Embedded, cid: str, **values: Any) -> None:
    table = Correction.__table__  # type: ignore[attr-defined]
    with embedded.state.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == cid).values(**values))


def test_deadlines_follow_the_settings_and_overdue_ones_are_escalated_once(
    gateway: tuple[Embedded, TestClient],
) -> None:
    embedded, client = gateway
    cid, _ = filed(client, embedded)
    body = client.get(f"{CORRECTIONS}/{cid}", headers=as_department(client, embedded, "psb")).json()
    calendar = embedded.state.registry_settings.calendar()
    assert calendar.makeup_workdays == {date(2026, 9, 27)}
    filed_at = datetime.fromisoformat(body["filed_at"])
    assert datetime.fromisoformat(body["take_up_due"]) == calendar.add_working_days(filed_at, 1)
    assert datetime.fromisoformat(body["close_due"]) == calendar.add_working_days(filed_at, 3)

    escalator = embedded.state.corrections.escalator
    assert client.portal.call(escalator.escalate_now) == 0  # type: ignore[union-attr]  # nothing is due yet
    past = datetime.now(UTC) - timedelta(minutes=1)
    _set(embedded, cid, take_up_due=past)  # the take-up deadline has passed
    psb = as_department(client, embedded, "psb")
    overdue = client.get(CORRECTIONS, params={"overdue": "true"}, headers=steward(client, embedded)).json()
    assert [c["id"] for c in overdue["items"]] == [cid] and overdue["items"][0]["overdue"]
    assert (
        client.get(CORRECTIONS, params={"overdue": "true", "role": "filed"}, headers=psb).json()["total"] == 0
    )

    assert client.portal.call(escalator.escalate_now) == 1  # type: ignore[union-attr]
    assert client.portal.call(escalator.escalate_now) == 0  # type: ignore[union-attr]  # once
    [record] = audit_rows(embedded, "correction.escalated")
    assert (record.actor_department, record.source, record.request_id) == (None, "psb", f"correction:{cid}")
    assert client.get(f"{CORRECTIONS}/{cid}", headers=psb).json()["escalated_at"]

    # Taken up late: no longer past the take-up deadline, still within the close deadline.
    accepted = client.post(f"{CORRECTIONS}/{cid}/transitions", json={"to": "accepted"}, headers=psb).json()
    assert not accepted["overdue"]
    _set(embedded, cid, close_due=past)
    assert client.get(f"{CORRECTIONS}/{cid}", headers=psb).json()["overdue"]

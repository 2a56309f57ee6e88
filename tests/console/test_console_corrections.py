"""The corrections board: every correction by state and deadline, and the figures of each source."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from console.settings import ConsoleSettings
from console.users import service as users
from exchange.corrections.models import Correction
from exchange.corrections.quality import figures
from protocol.clock import utcnow
from registry.db import unit_of_work
from shuyuan.app import app_state
from shuyuan.embedded import build_embedded

SETTINGS = ConsoleSettings(environment="test", page_size=5)
PASSWORD = "corrections-board-password"
SECRET_VALUE = "已于2025年出售"  # a proposed value: personal data, for the filer and the source only


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Engine]]:
    """An embedded exchange with a viewer signed in, and its database."""
    embedded = build_embedded(tmp_path_factory.mktemp("corrections-board"), console_settings=SETTINGS)
    with TestClient(embedded.app) as client:
        engine = app_state(client.app).engine  # type: ignore[arg-type]
        with unit_of_work(engine) as session:
            users.create(
                session=session, username="viewer", password=PASSWORD, role="viewer", settings=SETTINGS
            )
        page = client.get("/console/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        data = {"username": "viewer", "password": PASSWORD, "csrf_token": token.group(1)}
        assert client.post("/console/login", data=data, follow_redirects=False).status_code == 303
        yield client, engine


def _correction(
    cid: str, *, state: str, source: str, age_days: float, accepted_after_h: float | None
) -> dict:
    filed = utcnow() - timedelta(days=age_days)
    closed = state in ("fixed", "rejected", "withdrawn")
    return {
        "id": cid,
        "element": "person.si_months_paid",
        "subject_type": "person",
        "subject_index": "ab" * 32,
        "query_id": f"q-{cid}",
        "filer": "zjj",
        "filed_by": "zjj-housing",
        "source": source,
        "state": state,
        "problem": "months paid differ from the contract",
        "proposed_sealed": SECRET_VALUE.encode(),
        "filed_at": filed,
        "routed_at": filed,
        "updated_at": filed,
        "take_up_due": filed + timedelta(days=7),
        "close_due": filed + timedelta(days=21),
        "accepted_at": None if accepted_after_h is None else filed + timedelta(hours=accepted_after_h),
        "closed_at": filed + timedelta(days=3) if closed else None,
    }


def test_the_board_lists_corrections_by_state_and_deadline_and_rates_each_source(
    board: tuple[TestClient, Engine],
) -> None:
    client, engine = board
    rows = [
        _correction("c-late-01", state="reported", source="hrss", age_days=10, accepted_after_h=None),
        _correction("c-fixed-02", state="fixed", source="hrss", age_days=5, accepted_after_h=4),
        _correction("c-open-03", state="accepted", source="psb", age_days=1, accepted_after_h=2),
    ]
    with engine.begin() as conn:
        conn.execute(insert(Correction.__table__), rows)  # type: ignore[attr-defined]

    page = client.get("/console/corrections")
    assert page.status_code == 200
    for cid in ("c-late-01", "c-fixed-02", "c-open-03"):
        assert f'data-correction="{cid}"' in page.text
    assert SECRET_VALUE not in page.text  # the proposed value never reaches the board
    late = client.get("/console/corrections?overdue=true").text
    assert 'data-correction="c-late-01"' in late and 'data-correction="c-open-03"' not in late
    fixed = client.get("/console/corrections?state=fixed").text
    assert 'data-correction="c-fixed-02"' in fixed and 'data-correction="c-late-01"' not in fixed
    hrss = re.search(r'<tr data-source="hrss">(.*?)</tr>', page.text, re.S)
    assert hrss, page.text
    cells = re.findall(r"<td>(.*?)</td>", hrss.group(1), re.S)
    # total, open, overdue, fixed, rejected, taken up in time, closed in time, medians
    assert cells[1:3] == ["2", "1"] and "1" in cells[3] and cells[4:6] == ["1", "0"]
    assert cells[6:8] == ["100%", "100%"] and cells[8] == "4.0" and cells[9] == "72.0"


def test_figures_of_a_source_without_corrections_taken_up_are_not_invented() -> None:
    row = _correction("c-x-01", state="reported", source="amr", age_days=0.1, accepted_after_h=None)

    class Row:  # a stored row's attributes
        def __init__(self, values: dict) -> None:
            self.__dict__.update(values)

    (amr,) = figures([Row(row)], now=utcnow())
    assert (amr.total, amr.open, amr.overdue) == (1, 1, 0)
    assert amr.taken_up_in_time is None and amr.median_take_up_h is None and amr.closed_in_time is None

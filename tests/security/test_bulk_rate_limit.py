"""Attack: a system floods the exchange through bulk queries to get round its per-client rate limit.

Each subject of a bulk is a query, so each counts one token: the flood is refused with 429
`rate_limited`, nothing of the refused bulk is asked or released, and the refusal is on the audit chain.
"""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.settings import GatewaySettings
from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import authorize
from tests.exchange.conftest import as_department
from tests.exchange.test_bulk_queries import BULK, bulk_body, lines, released

PROBLEM = "application/problem+json"


@pytest.fixture
def gateway_with(tmp_path: Path) -> Iterator[Callable[..., tuple[Embedded, TestClient]]]:
    """The embedded exchange with the rate limit of the test's choosing."""
    with ExitStack() as stack:

        def _start(**settings: Any) -> tuple[Embedded, TestClient]:
            values = {
                "database_url": f"sqlite:///{(tmp_path / 'shuyuan.db').resolve()}",
                "transport": "memory",
            }
            embedded = build_embedded(tmp_path, settings=GatewaySettings(**(values | settings)))
            client = stack.enter_context(TestClient(embedded.app))
            authorize(client)
            return embedded, client

        yield _start


def _denials(db_path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT action, actor_department, reason FROM audit_entry WHERE decision = 'deny' ORDER BY seq"
        )
        return [tuple(r) for r in rows]


def test_a_bulk_counts_every_subject_against_the_rate_limit(
    gateway_with: Callable[..., tuple[Embedded, TestClient]], tmp_path: Path
) -> None:
    # Burst 10, refilled at one token in 100 s: without per-subject counting, ten bulks of 10 subjects
    # would read 100 subjects where the limit allows 10.
    embedded, client = gateway_with(rate_limit_per_s=0.01, rate_limit_burst=10)
    people = list(embedded.subjects.all_persons[:10])
    headers = as_department(client, embedded, "zjj")
    first = client.post(BULK, json=bulk_body(people, ["person.name"], bulk_id="flood-0001"), headers=headers)
    assert first.status_code == 200, first.text
    assert lines(first)[-1]["answered"] == 10
    refused: list[Any] = [
        client.post(BULK, json=bulk_body(people, ["person.name"], bulk_id=f"flood-{i:04d}"), headers=headers)
        for i in range(2, 6)
    ]
    for response in refused:
        assert response.status_code == 429, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["reason"] == "rate_limited"
        assert int(response.headers["retry-after"]) >= 1
        assert not any(p in response.text for p in people)
    for i in range(2, 6):
        assert released(embedded, f"flood-{i:04d}.") == 0  # nothing of a refused bulk was released
    denials = [d for d in _denials(tmp_path / "shuyuan.db") if d[2] == "rate_limited"]
    assert len(denials) == len(refused) and all(d[1] == "zjj" for d in denials)


def test_a_bulk_larger_than_the_burst_leaves_the_bucket_in_debt(
    gateway_with: Callable[..., tuple[Embedded, TestClient]],
) -> None:
    # A subsidy office may check more applicants in one bulk than its burst, once: after that its
    # ordinary queries wait until the debt is paid back, so the average rate stays bounded.
    embedded, client = gateway_with(rate_limit_per_s=0.01, rate_limit_burst=5)
    people = list(embedded.subjects.all_persons[:12])
    headers = as_department(client, embedded, "zjj")
    big = client.post(BULK, json=bulk_body(people, ["person.name"], bulk_id="big-0001"), headers=headers)
    assert big.status_code == 200, big.text
    assert lines(big)[-1]["answered"] == 12
    after = client.get("/v1/departments", headers=headers)
    assert after.status_code == 429 and after.json()["reason"] == "rate_limited"

"""Fixtures of the gateway's unit tests: the embedded exchange with chosen settings, and readers of
the department registers and of the gateway database, to compare answers with what is stored."""

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.client import ConsumerClient
from exchange.settings import GatewaySettings
from shuyuan.embedded import Embedded, build_embedded
from shuyuan.sample_systems import SYSTEMS
from tests.authkit import authorize, bearer, now_iso

HOUSING = (
    "330100-GZF-001"  # 公共租赁住房申请, handled by zjj (holds agreements for the conditional SI elements)
)
SOLE_TRADER = "330100-GTH-001"  # 个体工商户设立登记, handled by xzsp
FOOD_LICENCE = "330100-SPJY-001"  # 食品经营许可, handled by xzsp

Ask = Callable[..., Any]


def query_body(
    subject_id: str,
    elements: list[str],
    *,
    item: str = HOUSING,
    subject_type: str = "person",
    query_id: str | None = None,
    case_no: str = "CASE-2026-000001",
) -> dict[str, Any]:
    """A POST /v1/queries body."""
    return {
        "query_id": query_id or f"q-{uuid.uuid4().hex}",
        "subject": {"type": subject_type, "id": subject_id},
        "elements": elements,
        "purpose": {"service_item": item, "case_no": case_no},
        "on_behalf_of": "wang.fang",
        "requested_at": now_iso(),
    }


@pytest.fixture
def body() -> Callable[..., dict[str, Any]]:
    """Build a query body: body(subject_id, elements, item=..., subject_type=..., query_id=...)."""
    return query_body


def as_department(client: TestClient, embedded: Embedded, dept: str) -> dict[str, str]:
    """Authorization headers of the sample system of a department (a real token, private_key_jwt)."""
    client_id = next((cid for cid, code, _, _ in SYSTEMS if code == dept), None)
    if client_id is None:
        # An unregistered department has no system and so no key: all it can send is a forged token.
        return {"Authorization": f"Bearer forged-token-of-{dept}"}
    return bearer(client, embedded.system_keys[client_id], client_id)


@pytest.fixture
def ask(client: TestClient, embedded: Embedded) -> Ask:
    """POST a query as a department's sample system: ask(consumer, subject_id, elements, **body options).

    `consumer=None` sends no token at all.
    """

    def _ask(consumer: str | None, subject_id: str, elements: list[str], **options: Any) -> Any:
        headers = as_department(client, embedded, consumer) if consumer else {"Authorization": ""}
        return client.post("/v1/queries", json=query_body(subject_id, elements, **options), headers=headers)

    return _ask


def open_response(
    client: TestClient,
    embedded: Embedded,
    response: Any,
    subject_id: str,
    consumer: str = "zjj",
    subject_type: str = "person",
) -> dict[str, dict[str, Any]]:
    """Decrypt and verify a query response as the consumer SDK does: {code: {code, status, reason,
    source, value}}; an answer that fails a check is `rejected` (connectors/client.py)."""
    sdk = ConsumerClient(client, keys=embedded.keys[consumer])  # the client's own token reads the keys
    answer = sdk.open(response.json(), subject_type=subject_type, subject_id=subject_id)
    return {r.code: r.as_dict() for r in answer.results}


@pytest.fixture
def opened(client: TestClient, embedded: Embedded) -> Callable[..., dict[str, dict[str, Any]]]:
    """opened(response, subject_id, consumer="zjj", subject_type="person"): see open_response."""

    def _open(response: Any, subject_id: str, *args: str) -> dict[str, dict[str, Any]]:
        return open_response(client, embedded, response, subject_id, *args)

    return _open


@pytest.fixture
def gateway_db(tmp_path: Path) -> Iterator[Callable[[], sqlite3.Connection]]:
    """Open the embedded gateway's own SQLite database (registry + audit + idempotency records)."""
    opened: list[sqlite3.Connection] = []

    def _open() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "shuyuan.db")
        conn.row_factory = sqlite3.Row
        opened.append(conn)
        return conn

    yield _open
    for conn in opened:
        conn.close()


@pytest.fixture
def register(tmp_path: Path) -> Callable[[str, str, str], sqlite3.Row | None]:
    """Read one row of a sample department's own register: register(dept, table, key) -> row."""
    keys = {"hukou_person": "resident_id", "si_insured": "resident_id", "business_licence": "uscc"}

    def _row(dept: str, table: str, key: str) -> sqlite3.Row | None:
        conn = sqlite3.connect(f"file:{tmp_path / 'departments' / f'{dept}.sqlite'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(f"SELECT * FROM {table} WHERE {keys[table]} = ?", (key,)).fetchone()
        finally:
            conn.close()

    return _row


@pytest.fixture
def household(tmp_path: Path) -> Callable[[str], list[dict[str, str]]]:
    """The members of a person's household as the psb register holds them, in register order."""

    def _members(resident_id: str) -> list[dict[str, str]]:
        conn = sqlite3.connect(f"file:{tmp_path / 'departments' / 'psb.sqlite'}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT name, relation_to_head, birth_date FROM hukou_person WHERE household_no = "
                "(SELECT household_no FROM hukou_person WHERE resident_id = ?) ORDER BY rowid",
                (resident_id,),
            ).fetchall()
        finally:
            conn.close()
        return [{"name": n, "relation": r, "birth_date": b} for n, r, b in rows]

    return _members


@pytest.fixture
def gateway_with(tmp_path: Path) -> Iterator[Callable[..., tuple[Embedded, TestClient]]]:
    """Start the embedded exchange with settings of the test's choosing (e.g. a short source timeout)."""
    with ExitStack() as stack:

        def _start(**settings: Any) -> tuple[Embedded, TestClient]:
            values: dict[str, Any] = {
                "database_url": f"sqlite:///{(tmp_path / 'shuyuan.db').resolve()}",
                "transport": "memory",
                "environment": "test",
            }
            embedded = build_embedded(tmp_path, settings=GatewaySettings(**(values | settings)))
            client = stack.enter_context(TestClient(embedded.app))
            authorize(client)  # by default a test system of zjj with every scope (tests/authkit.py)
            return embedded, client

        yield _start


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Embedded, TestClient]]:
    """One embedded exchange for a whole module: only for requests refused before anything is written."""
    embedded = build_embedded(tmp_path_factory.mktemp("shared"))
    with TestClient(embedded.app) as client:
        authorize(client)
        yield embedded, client

"""Value schemas cannot make anyone fetch a URL (SSRF) or run a catastrophic regular expression.

jsonschema fetches a `$ref` it does not know by default. The registry refuses non-local references
and costly patterns at registration (400 `invalid_value_schema`, audited), and a schema that reached
the database some other way is never fetched by the connector or the SDK: the value is refused.
A local HTTP server records every hit; it must see none.
"""

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.client import ConsumerClient
from protocol import value_schema
from shuyuan.embedded import Embedded, build_embedded
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import authorize, fetch_token
from tests.sourcekit import serve


@pytest.fixture
def hits() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server that serves a permissive schema and records every path asked for."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b'{"type": "string"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def _element(code: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": code,
        "name_zh": "测试",
        "name_en": "Test",
        "subject_type": "person",
        "source": "zjj",
        "sharing_type": "unconditional",
        "value_type": "string",
        "sensitivity": "internal",
        "value_schema": schema,
    }


def _denials(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [
            r for (r,) in conn.execute("SELECT reason FROM audit_entry WHERE decision = 'deny' ORDER BY seq")
        ]


def test_remote_references_and_costly_patterns_are_refused_at_registration(
    client: TestClient, tmp_path: Path, hits: tuple[str, list[str]]
) -> None:
    url, seen = hits
    refused = {
        "remote $ref": {"$ref": f"{url}/schema.json"},
        "relative $ref": {"$ref": "other.json#/x"},
        "nested remote $ref": {"type": "object", "properties": {"a": {"$ref": f"{url}/a.json"}}},
        "remote $dynamicRef": {"$dynamicRef": f"{url}/d.json#meta"},
        "nested quantifier": {"type": "string", "pattern": "^(a+)+$"},
        "long pattern": {"type": "string", "pattern": "a" * (value_schema.MAX_PATTERN_LENGTH + 1)},
        "costly patternProperties": {"type": "object", "patternProperties": {"(x*)*y": {}}},
    }
    for i, (name, schema) in enumerate(refused.items()):
        before = _denials(tmp_path / "shuyuan.db")
        response = client.post("/v1/elements", json=_element(f"person.ssrf_{i}", schema))
        assert response.status_code == 400, (name, response.text)
        assert response.json()["reason"] == "invalid_value_schema", name
        assert client.get(f"/v1/elements/person.ssrf_{i}").status_code == 404
        after = _denials(tmp_path / "shuyuan.db")
        assert after[len(before) :] == ["invalid_value_schema"], name  # the refusal is audited
    local = {"$defs": {"s": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}}, "$ref": "#/$defs/s"}
    assert client.post("/v1/elements", json=_element("person.ssrf_ok", local)).status_code == 201
    assert seen == []


@pytest.fixture
def slipped(tmp_path: Path, hits: tuple[str, list[str]]) -> Iterator[tuple[Embedded, TestClient]]:
    """The embedded exchange whose person.name schema was rewritten in the database to a remote $ref."""
    url, _ = hits
    embedded = build_embedded(tmp_path)
    with TestClient(embedded.app) as client:
        with sqlite3.connect(tmp_path / "shuyuan.db") as conn:
            conn.execute(
                "UPDATE data_element SET value_schema = ? WHERE code = 'person.name'",
                (json.dumps({"$ref": f"{url}/name.json"}),),
            )
        embedded.state.catalogue.invalidate()  # as a registry change would
        authorize(client)
        yield embedded, client


def _ask(embedded: Embedded, client: TestClient, tmp_path: Path) -> Any:
    token = fetch_token(client, tmp_path / "keys" / "systems" / "zjj-housing.jwk", "zjj-housing")
    zjj = ConsumerClient(client, keys=embedded.keys["zjj"], auth=token)
    return zjj.query(
        subject_type="person",
        subject_id=embedded.subjects.demo_person,
        elements=["person.name"],
        service_item=HOUSING_ITEM,
        case_no="ZJJ-SSRF-1",
        on_behalf_of="wang.fang",
    )


def test_a_slipped_remote_ref_is_never_fetched_by_the_connector(
    slipped: tuple[Embedded, TestClient], tmp_path: Path, hits: tuple[str, list[str]]
) -> None:
    embedded, client = slipped
    answer = _ask(embedded, client, tmp_path)
    (element,) = answer.results
    assert element.status != "ok"  # the connector refuses a value it cannot check
    assert hits[1] == []


def test_a_slipped_remote_ref_is_never_fetched_by_the_sdk(
    slipped: tuple[Embedded, TestClient], tmp_path: Path, hits: tuple[str, list[str]]
) -> None:
    embedded, client = slipped
    # A connector that skips its own check: the SDK must still refuse without fetching.
    serve(embedded, "psb", request=lambda r: r.model_copy(update={"value_schemas": {}}))
    answer = _ask(embedded, client, tmp_path)
    (element,) = answer.results
    assert element.status == "rejected"
    assert hits[1] == []


def test_the_validator_fetches_nothing_even_without_the_registration_rules(
    hits: tuple[str, list[str]],
) -> None:
    url, seen = hits
    dangling = {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}}
    assert not value_schema.conforms({"a": 1}, dangling)  # an unresolvable ref refuses, never fetches
    validator = value_schema.validator(dangling)
    assert not value_schema.conforms("x", {"$ref": f"{url}/x.json"})
    unchecked = type(validator)({"$ref": f"{url}/y.json"}, registry=value_schema.NO_REMOTE)
    with pytest.raises(Exception, match="Unresolvable"):
        unchecked.is_valid("x")
    assert seen == []

"""docs/api.md's prefill example, executed as printed: its request body is sent (with `requested_at`
set to now, the freshness window) on the test bundle, and the answer is the printed one but for the
JWE values; docs/registry.md's bundle example is the test bundle itself."""

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from shuyuan.app import app_state
from shuyuan.embedded import Embedded
from tests.authkit import bearer, now_iso, register_test_system
from tests.bundlekit import BUNDLE, bundle_item
from tests.exchange.conftest import as_department

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _block(doc: str, marker: str) -> Any:
    """The JSON code block right after an HTML comment marker."""
    match = re.search(rf"<!-- {marker}[^>]*-->\s*```json\n(.*?)```", doc, re.S)
    assert match, f"no JSON block after <!-- {marker} -->"
    return json.loads(match.group(1))


def _without_jwe(out: dict[str, Any]) -> dict[str, Any]:
    for material in out["materials"]:
        for element in material["elements"]:
            assert (element["jwe"] is None) == (element["status"] != "ok")
            element["jwe"] = "JWE" if element["jwe"] else None
    return out


def test_the_prefill_example_runs_as_printed(client: TestClient, embedded: Embedded) -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    request, printed = _block(api, "prefill-request"), _block(api, "prefill-response")
    # The printed subjects are the sample data's (the demo person and another).
    assert set(embedded.subjects.all_persons) >= {s["id"] for s in request["subjects"].values()}
    key = register_test_system(
        app_state(client.app).engine,
        client_id="steward-docs",
        department="xzsp",
        scopes=["registry:read", "registry:write", "registry:steward"],
    )
    created = client.post(
        "/v1/service-items", json=bundle_item(), headers=bearer(client, key, "steward-docs")
    )
    assert created.status_code == 201, created.text
    response = client.post(
        f"/v1/service-items/{BUNDLE}/prefill",
        json=request | {"requested_at": now_iso()},
        headers=as_department(client, embedded, "zjj"),
    )
    assert response.status_code == 200, response.text
    assert _without_jwe(response.json()) == _without_jwe(printed)


def test_the_registry_bundle_example_is_the_test_bundle() -> None:
    registry = (DOCS / "registry.md").read_text(encoding="utf-8")
    match = re.search(r"Example \(the body of `POST /v1/service-items`.*?```json\n(.*?)```", registry, re.S)
    assert match
    assert json.loads(match.group(1)) == bundle_item()

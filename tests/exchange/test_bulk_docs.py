"""docs/api.md's bulk example, executed as printed: its request is sent as 住建局 (with `requested_at`
set to now) and the NDJSON lines are the printed ones but for the JWE values and the detail texts."""

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from shuyuan.embedded import Embedded
from tests.authkit import now_iso
from tests.exchange.conftest import as_department

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _normalised(line: dict[str, Any]) -> dict[str, Any]:
    for result in line.get("answer", {}).get("results", []):
        result["jwe"] = "JWE" if result.get("jwe") else None
    if "problem" in line:
        line["problem"]["detail"] = "..."
    return line


def test_the_bulk_example_runs_as_printed(client: TestClient, embedded: Embedded) -> None:
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    request = json.loads(re.search(r"<!-- bulk-request[^>]*-->\s*```json\n(.*?)```", api, re.S).group(1))  # type: ignore[union-attr]
    block = re.search(r"<!-- bulk-response[^>]*-->\s*```\n(.*?)```", api, re.S).group(1)  # type: ignore[union-attr]
    printed = [_normalised(json.loads(line)) for line in block.splitlines() if line.strip()]
    body = request | {"requested_at": now_iso()}
    response = client.post("/v1/bulk-queries", json=body, headers=as_department(client, embedded, "zjj"))
    assert response.status_code == 200, response.text
    got = [_normalised(json.loads(line)) for line in response.text.splitlines() if line.strip()]
    *answers, summary = got
    assert [*sorted(answers, key=lambda line: line["index"]), summary] == printed

"""The consumer SDK's prefill (一件事一次办): every material of a service item the caller may read, each
element decrypted and verified exactly as `ConsumerClient.query` does.

The gateway fans the call out into ordinary queries `<prefill_id>.<role index>.<source>`; each
element names its query, so its signature is checked against that query, the role's subject, the
element, the source and this consumer. A material's status is recomputed from the verified results:
an answer the SDK rejects does not count as supplied.
"""

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from connectors.client import ClientResult, ConsumerClient

MaterialStatus = Literal["supplied", "partly", "must_bring"]
SubjectType = Literal["person", "enterprise"]


@dataclass(frozen=True)
class PrefilledMaterial:
    """One material the caller may read: its verified elements and whether they replace it."""

    name: str
    subject_role: str
    step: str | None
    status: MaterialStatus
    results: list[ClientResult]

    def values(self) -> dict[str, Any]:
        """Element code -> verified value, for the `ok` elements."""
        return {r.code: r.value for r in self.results if r.status == "ok"}


@dataclass(frozen=True)
class PrefillAnswer:
    """The whole prefill: `complete` only when every material is supplied by verified values."""

    prefill_id: str
    service_item: str
    status: Literal["complete", "partial"]
    materials: list[PrefilledMaterial]
    to_bring: list[str]
    query_ids: list[str]


def status_of(results: list[ClientResult]) -> MaterialStatus:
    """`supplied` when every element is verified `ok`, `partly` when some are, else `must_bring`."""
    ok = sum(r.status == "ok" for r in results)
    if results and ok == len(results):
        return "supplied"
    return "partly" if ok else "must_bring"


def prefill(
    consumer: ConsumerClient,
    *,
    service_item: str,
    subjects: Mapping[str, tuple[SubjectType, str]],
    case_no: str,
    on_behalf_of: str,
    prefill_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> PrefillAnswer:
    """POST /v1/service-items/{code}/prefill with {role: (subject type, id)}; every element opened.

    GatewayError on a 4xx/5xx (e.g. `403 not_participant`, `400 missing_subject`).
    """
    body = {
        "prefill_id": prefill_id or f"pf-{uuid.uuid4().hex[:24]}",
        "case_no": case_no,
        "subjects": {role: {"type": t, "id": sid} for role, (t, sid) in subjects.items()},
        "on_behalf_of": on_behalf_of,
        "requested_at": datetime.now(UTC).isoformat(),
        **(extra or {}),
    }
    out = consumer.post_json(f"/v1/service-items/{service_item}/prefill", body)
    return open_prefill(consumer, out, subjects=subjects)


def open_prefill(
    consumer: ConsumerClient, out: dict[str, Any], *, subjects: Mapping[str, tuple[SubjectType, str]]
) -> PrefillAnswer:
    """Decrypt and verify a prefill response body, query by query."""
    by_query: dict[str, list[dict[str, Any]]] = defaultdict(list)
    role_of: dict[str, str] = {}
    for material in out["materials"]:
        for element in material["elements"]:
            if element.get("query_id"):
                by_query[element["query_id"]].append(element)
                role_of[element["query_id"]] = material["subject_role"]
    opened: dict[tuple[str, str], ClientResult] = {}
    for qid, raw in by_query.items():
        subject_type, subject_id = subjects[role_of[qid]]
        answer = consumer.open(
            {"query_id": qid, "results": raw}, subject_type=subject_type, subject_id=subject_id
        )
        opened |= {(qid, r.code): r for r in answer.results}
    materials = []
    for material in out["materials"]:
        results = [
            opened.get((e.get("query_id") or "", e["code"])) or _unasked(e) for e in material["elements"]
        ]
        materials.append(
            PrefilledMaterial(
                name=material["name"],
                subject_role=material["subject_role"],
                step=material.get("step"),
                status=status_of(results),
                results=results,
            )
        )
    to_bring = [m.name for m in materials if m.status != "supplied"]
    return PrefillAnswer(
        prefill_id=str(out["prefill_id"]),
        service_item=str(out["service_item"]),
        status="partial" if to_bring else "complete",
        materials=materials,
        to_bring=to_bring,
        query_ids=[q["query_id"] for q in out.get("queries", [])],
    )


def _unasked(element: dict[str, Any]) -> ClientResult:
    """An element no query answered: never a value (an `ok` without its query cannot be verified)."""
    code, source = str(element["code"]), element.get("source")
    if element.get("status") == "ok":
        return ClientResult(code, "rejected", "malformed", source)
    return ClientResult(code, element.get("status", "unavailable"), element.get("reason"), source)

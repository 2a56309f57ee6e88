"""The consumer SDK's bulk query: the same elements for many subjects, each answer opened as it streams in.

Each line of POST /v1/bulk-queries is one subject's answer (decrypted and verified exactly as
`ConsumerClient.query` does) or its refusal; the last line is the gateway's summary.
"""

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from connectors.client import ConsumerClient, QueryAnswer


@dataclass(frozen=True)
class BulkItem:
    """One subject's outcome: its answer, or the refusal's reason code and detail."""

    index: int
    subject_id: str
    query_id: str
    answer: QueryAnswer | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class BulkResult:
    """Every subject's outcome in request order, and the gateway's summary line."""

    items: list[BulkItem]
    summary: dict[str, Any]


def stream_bulk(
    consumer: ConsumerClient,
    *,
    subject_type: Literal["person", "enterprise"],
    subject_ids: Sequence[str],
    elements: list[str],
    service_item: str,
    case_no: str,
    on_behalf_of: str,
    bulk_id: str | None = None,
) -> Iterator[BulkItem | dict[str, Any]]:
    """Yield each subject's BulkItem as the gateway streams it (completion order), then the summary."""
    body = {
        "bulk_id": bulk_id or f"bulk-{uuid.uuid4().hex}",
        "subjects": [{"type": subject_type, "id": s} for s in subject_ids],
        "elements": elements,
        "purpose": {"service_item": service_item, "case_no": case_no},
        "on_behalf_of": on_behalf_of,
        "requested_at": datetime.now(UTC).isoformat(),
    }
    for line in consumer.post_lines("/v1/bulk-queries", body):
        if "summary" in line:
            yield line
            continue
        index = int(line["index"])
        subject_id = subject_ids[index]
        if "answer" in line:
            answer = consumer.open(line["answer"], subject_type=subject_type, subject_id=subject_id)
            yield BulkItem(index, subject_id, str(line["query_id"]), answer=answer)
        else:
            problem = line.get("problem") or {}
            yield BulkItem(
                index,
                subject_id,
                str(line["query_id"]),
                reason=problem.get("reason"),
                detail=problem.get("detail"),
            )


def query_bulk(consumer: ConsumerClient, **kwargs: Any) -> BulkResult:
    """The whole bulk (`stream_bulk`'s arguments), in request order once every line has arrived."""
    items: list[BulkItem] = []
    summary: dict[str, Any] = {}
    for item in stream_bulk(consumer, **kwargs):
        if isinstance(item, BulkItem):
            items.append(item)
        else:
            summary = item
    return BulkResult(sorted(items, key=lambda i: i.index), summary)

"""Bulk queries: each subject is one ordinary query (QueryService.run: the same authorisation, audit and
encryption per subject), run a few at a time, each answer yielded as soon as it is ready."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from exchange.bulk.models import BulkLine, BulkProblem, BulkQueryIn, BulkSummary, as_line, query_id
from exchange.queries.models import QueryIn
from exchange.queries.service import QueryService
from protocol.errors import ShuyuanError


def queries_of(bulk: BulkQueryIn) -> list[QueryIn]:
    """The bulk as one query per subject (query id `<bulk_id>.<index>`)."""
    return [
        QueryIn(
            query_id=query_id(bulk.bulk_id, i),
            subject=subject,
            elements=bulk.elements,
            purpose=bulk.purpose,
            on_behalf_of=bulk.on_behalf_of,
            requested_at=bulk.requested_at,
        )
        for i, subject in enumerate(bulk.subjects)
    ]


async def stream(
    service: QueryService, *, consumer: str, system: str | None, bulk: BulkQueryIn, concurrency: int
) -> AsyncIterator[bytes]:
    """NDJSON lines: one per subject as its query completes, then the summary.

    A refusal of one subject (its own reason code) does not stop the others; every refusal the query
    service raises is already on the audit chain or is one the problem handlers would not audit either
    (a malformed subject id). `audit_unavailable` refuses every subject not yet answered, as it would
    refuse one query: nothing is released without its records.
    """
    queries = queries_of(bulk)
    gate = asyncio.Semaphore(concurrency)
    done: asyncio.Queue[BulkLine] = asyncio.Queue()

    async def one(index: int, query: QueryIn) -> None:
        async with gate:
            # The bulk's freshness was checked once on arrival (api.py); a subject asked later in a long
            # bulk is not refused for the time it waited its turn.
            query = query.model_copy(update={"requested_at": datetime.now(UTC)})
            try:
                answer = await service.run(consumer=consumer, query=query, system=system)
                line = BulkLine(index=index, query_id=query.query_id, answer=answer)
            except ShuyuanError as exc:
                problem = BulkProblem(status=exc.status, reason=exc.reason.value, detail=exc.detail)
                line = BulkLine(index=index, query_id=query.query_id, problem=problem)
        await done.put(line)

    tasks = [asyncio.create_task(one(i, q)) for i, q in enumerate(queries)]
    refused: Counter[str] = Counter()
    try:
        for _ in tasks:
            line = await done.get()
            if line.problem is not None:
                refused[line.problem.reason] += 1
            yield as_line(line)
    finally:
        for task in tasks:  # the client went away: nothing more is asked (what was answered is audited)
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    yield as_line(
        BulkSummary(
            bulk_id=bulk.bulk_id,
            subjects=len(queries),
            answered=len(queries) - sum(refused.values()),
            refused=sum(refused.values()),
            reasons=dict(refused),
        )
    )

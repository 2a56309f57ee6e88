"""POST /v1/queries."""

from typing import Any

from fastapi import APIRouter

from exchange.deps import Consumer, QueryServiceDep
from exchange.queries.models import QueryIn, QueryOut
from web.problems import PROBLEM_JSON

router = APIRouter(prefix="/v1/queries", tags=["exchange: queries"])

_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


@router.post(
    "",
    response_model=QueryOut,
    responses={
        400: {"description": "`invalid_request` or `invalid_subject_id`", **_PROBLEM},
        401: {"description": "`unauthenticated`", **_PROBLEM},
        403: {"description": "`client_disabled`", **_PROBLEM},
        409: {"description": "`conflict`: the query_id was used for a different query", **_PROBLEM},
        422: {"description": "`invalid_request`: the body does not match the schema", **_PROBLEM},
        503: {
            "description": "`audit_unavailable`: nothing is released when the audit log cannot be written",
            **_PROBLEM,
        },
    },
)
async def create_query(body: QueryIn, consumer: Consumer, service: QueryServiceDep) -> QueryOut:
    """Ask for data about one subject for a declared purpose.

    Each element is decided on its own (reason codes in DESIGN.md §6), the allowed ones are fetched
    from their source departments with one request per source, and every step is audited before the
    answer is released. Re-sending the same body with the same `query_id` returns the same answer.
    """
    return await service.run(consumer=consumer, query=body)

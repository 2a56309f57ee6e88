"""POST /v1/bulk-queries: the same elements and purpose for many subjects, answered as NDJSON."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from exchange.auth.core import Principal
from exchange.auth.fastapi import require_scope
from exchange.bulk.models import BulkQueryIn, line_schema
from exchange.bulk.service import stream
from exchange.deps import GatewayStateDep, QueryServiceDep
from protocol.errors import InvalidRequest
from web.problems import PROBLEM_JSON

NDJSON = "application/x-ndjson"
router = APIRouter(prefix="/v1/bulk-queries", tags=["exchange: queries"])
BulkCaller = Annotated[Principal, Depends(require_scope("query"))]
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


@router.post(
    "",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON object per line: each subject's answer or refusal as it completes "
            "(`index`, `query_id`, `answer` or `problem`), then a `summary` line",
            "content": {NDJSON: {"schema": line_schema()}},
        },
        400: {"description": "`invalid_request`: more subjects than the gateway allows", **_PROBLEM},
        429: {
            "description": "`rate_limited`: every subject counts against the client's rate limit",
            **_PROBLEM,
        },
        422: {"description": "`invalid_request`: the body does not match the schema", **_PROBLEM},
    },
)
async def create_bulk_query(
    body: BulkQueryIn, caller: BulkCaller, service: QueryServiceDep, state: GatewayStateDep
) -> StreamingResponse:
    """Ask for the same elements for many subjects (e.g. a subsidy office checking its applicants).

    Each subject is one query `<bulk_id>.<index>` with the same authorisation, audit and encryption as
    POST /v1/queries; answers stream back as they complete, so a slow source delays only its own lines.
    """
    skew = abs((datetime.now(UTC) - body.requested_at).total_seconds())
    if skew > state.settings.request_max_skew_s:  # as for one query (docs/security.md): checked once here
        raise InvalidRequest(f"requested_at is {skew:.0f} s away from the gateway clock")
    limit = state.settings.bulk_max_subjects
    if len(body.subjects) > limit:
        raise InvalidRequest(f"at most {limit} subjects per bulk query")
    # Each subject is a query: the client's rate limit counts them all (the request itself took one),
    # so a bulk is never a way round the per-client limit (docs/security.md).
    if len(body.subjects) > 1:
        state.auth.rate_limiter.check(caller.client_id, cost=len(body.subjects) - 1, admitted=True)
    lines = stream(
        service,
        consumer=caller.department,
        system=caller.client_id,
        bulk=body,
        concurrency=state.settings.bulk_concurrency,
    )
    return StreamingResponse(lines, media_type=NDJSON)

"""POST /v1/queries."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from exchange.auth.core import Principal
from exchange.auth.fastapi import require_scope
from exchange.deps import QueryServiceDep
from exchange.queries.models import QueryIn, QueryOut
from web.problems import PROBLEM_JSON

router = APIRouter(prefix="/v1/queries", tags=["exchange: queries"])
# The calling system (its department is the consumer; its client_id goes on the audit records).
QueryCaller = Annotated[Principal, Depends(require_scope("query"))]

_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


@router.post(
    "",
    response_model=QueryOut,
    responses={
        400: {"description": "`invalid_request` or `invalid_subject_id`", **_PROBLEM},
        401: {"description": "`unauthenticated`", **_PROBLEM},
        403: {
            "description": "`client_disabled`; or a replayed `query_id` whose stored answer the consumer "
            "may no longer receive (the reason of the first element now refused)",
            **_PROBLEM,
        },
        409: {
            "description": "`conflict`: the query_id was used for a different query; `query_in_progress`: "
            "an earlier request with this query_id is being answered or was cut off (docs/api.md, Retrying)",
            **_PROBLEM,
        },
        422: {"description": "`invalid_request`: the body does not match the schema", **_PROBLEM},
        503: {
            "description": "`audit_unavailable`: nothing is released when the audit log cannot be written",
            **_PROBLEM,
        },
    },
)
async def create_query(body: QueryIn, caller: QueryCaller, service: QueryServiceDep) -> QueryOut:
    """Ask for data about one subject for a declared purpose.

    Each element is decided on its own (reason codes in DESIGN.md §6), the allowed ones are fetched
    from their source departments with one request per source, and every step is audited before the
    answer is released. Re-sending the same body with the same `query_id` returns the same answer while
    it is stored (`SHUYUAN_QUERY_RECORD_TTL_S`) and the consumer may still receive it (docs/security.md).
    """
    return await service.run(consumer=caller.department, query=body, system=caller.client_id)

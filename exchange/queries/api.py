"""POST /v1/queries."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Response, status
from fastapi.responses import JSONResponse

from exchange.auth.core import Principal
from exchange.auth.fastapi import require_scope
from exchange.deps import GatewayStateDep, QueryServiceDep
from exchange.queries.async_models import AsyncAccepted, AsyncPending, location_of
from exchange.queries.async_runs import AsyncQueries
from exchange.queries.models import QUERY_ID_PATTERN, QueryIn, QueryOut
from web.problems import PROBLEM_JSON

router = APIRouter(prefix="/v1/queries", tags=["exchange: queries"])
# The calling system (its department is the consumer; its client_id goes on the audit records).
QueryCaller = Annotated[Principal, Depends(require_scope("query"))]

_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


@router.post(
    "",
    response_model=QueryOut,
    responses={
        202: {
            "description": "Accepted, answered asynchronously: asked with `Prefer: respond-async` "
            "(then `Preference-Applied: respond-async`), or a source's answer deadline is longer than "
            "the sync timeout (no `Preference-Applied`). Poll `Location` (docs/api.md). Every client "
            "must handle a 202.",
            "model": AsyncAccepted,
        },
        400: {
            "description": "`invalid_request`, `invalid_subject_id`, or `callback_not_registered` (the "
            "callback URL is not one registered for the calling system: nothing is run)",
            **_PROBLEM,
        },
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
async def create_query(
    body: QueryIn,
    caller: QueryCaller,
    service: QueryServiceDep,
    state: GatewayStateDep,
    prefer: Annotated[str | None, Header(description="`respond-async` (RFC 7240): answer 202")] = None,
) -> Any:
    """Ask for data about one subject for a declared purpose.

    Each element is decided on its own (reason codes in DESIGN.md §6), the allowed ones are fetched
    from their source departments with one request per source, and every step is audited before the
    answer is released. Re-sending the same body with the same `query_id` returns the same answer while
    it is stored (`SHUYUAN_QUERY_RECORD_TTL_S`) and the consumer may still receive it (docs/security.md).

    With `Prefer: respond-async`, or when a source is slower than the sync timeout, the answer is
    `202 Accepted` with `Location: /v1/queries/{query_id}`; the result is fetched there once.
    """
    wants_async = prefer is not None and "respond-async" in [p.strip() for p in prefer.lower().split(",")]
    slow = service.needs_async(await service.catalogue(), body)
    if not (wants_async or slow or body.callback_url is not None or body.callback):
        return await service.run(consumer=caller.department, query=body, system=caller.client_id)
    runs = _async_queries(state.async_queries)
    await runs.start(consumer=caller.department, system=caller.client_id, query=body)
    location = location_of(body.query_id)
    headers = {"Location": location}
    if wants_async:
        headers["Preference-Applied"] = "respond-async"
    accepted = AsyncAccepted(query_id=body.query_id, location=location)
    return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED, headers=headers)


@router.get(
    "/{query_id}",
    response_model=QueryOut | AsyncPending,
    responses={
        404: {
            "description": "`not_found`: no async query of the caller's department has this id",
            **_PROBLEM,
        },
        410: {"description": "`result_fetched` (released once) or `result_expired` (deleted)", **_PROBLEM},
    },
)
async def fetch_query(
    query_id: Annotated[str, Path(pattern=QUERY_ID_PATTERN)],
    caller: QueryCaller,
    state: GatewayStateDep,
    response: Response,
) -> QueryOut | AsyncPending:
    """Poll an asynchronous query: `pending` (with `Retry-After`), then its result, released once.

    The result is the sync route's QueryOut, each value still encrypted to the consumer. Only the
    consumer department's systems see it (404 for anyone else); the first fetch marks it fetched
    (`410 result_fetched` after), and after `SHUYUAN_ASYNC_RESULT_TTL_S` it is deleted
    (`410 result_expired`). Every fetch is audited.
    """
    runs = _async_queries(state.async_queries)
    out = await runs.fetch(consumer=caller.department, system=caller.client_id, query_id=query_id)
    if isinstance(out, AsyncPending) and out.status == "pending":
        response.headers["Retry-After"] = str(state.settings.async_retry_after_s)
    return out


def _async_queries(runs: AsyncQueries | None) -> AsyncQueries:
    assert runs is not None, "the lifespan builds the async queries with the gateway state"
    return runs

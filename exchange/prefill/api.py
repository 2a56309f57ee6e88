"""POST /v1/service-items/{code}/prefill: every material of a (bundle) service item the caller may read."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from exchange.auth.core import Principal
from exchange.auth.fastapi import require_scope
from exchange.deps import GatewayStateDep, QueryServiceDep
from exchange.prefill.models import PrefillIn, PrefillOut
from exchange.prefill.service import prefill
from exchange.queries.models import SERVICE_ITEM_PATTERN
from protocol.errors import InvalidRequest
from web.problems import PROBLEM_JSON

router = APIRouter(prefix="/v1/service-items", tags=["exchange: prefill"])
PrefillCaller = Annotated[Principal, Depends(require_scope("query"))]
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


@router.post(
    "/{code}/prefill",
    response_model=PrefillOut,
    responses={
        400: {
            "description": "`invalid_request` (e.g. a role's subject of the wrong type), "
            "`invalid_subject_id`, `unknown_subject_role` (the item has no such role), `missing_subject` "
            "(no subject for a role whose materials the caller may read): nothing is asked",
            **_PROBLEM,
        },
        403: {
            "description": "`not_participant`: the caller neither handles nor takes part in the item "
            "(audited, nothing is asked or released); `client_disabled`",
            **_PROBLEM,
        },
        404: {"description": "`not_found`: no such service item", **_PROBLEM},
        409: {
            "description": "`conflict` / `query_in_progress` of one of its queries (docs/api.md)",
            **_PROBLEM,
        },
        422: {"description": "`invalid_request`: the body does not match the schema", **_PROBLEM},
        429: {"description": "`rate_limited`: each query of the fan-out counts", **_PROBLEM},
        503: {"description": "`audit_unavailable`: nothing is released", **_PROBLEM},
    },
)
async def create_prefill(
    code: Annotated[str, Path(pattern=SERVICE_ITEM_PATTERN)],
    body: PrefillIn,
    caller: PrefillCaller,
    service: QueryServiceDep,
    state: GatewayStateDep,
) -> PrefillOut:
    """Fetch, in one call, every element that replaces a material of this service item (一件事一次办).

    Only the materials the caller may read are asked: all of them for the handler or a participant of
    an ordinary item; in a bundle (一件事) those of the steps the caller handles (and, for the handler,
    those in no step). Each role's elements of one source are one ordinary query
    `<prefill_id>.<role index>.<source>` with the authorisation, consent, audit, encryption and
    idempotency of POST /v1/queries; the answer lists each material's elements with their results and
    the materials still to bring.
    """
    skew = abs((datetime.now(UTC) - body.requested_at).total_seconds())
    if skew > state.settings.request_max_skew_s:  # as for one query (docs/security.md): checked once here
        raise InvalidRequest(f"requested_at is {skew:.0f} s away from the gateway clock")
    limiter = state.auth.rate_limiter

    def take_tokens(n: int) -> None:
        # All at once (as a bulk query's subjects): a refused prefill takes none of them.
        if n > 0:
            limiter.check(caller.client_id, cost=n, admitted=True)

    return await prefill(
        service,
        consumer=caller.department,
        system=caller.client_id,
        item_code=code,
        body=body,
        take_tokens=take_tokens,
    )

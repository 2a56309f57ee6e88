"""Consent API: the citizen's requests and answers (ID token), and the asking department's view.

The citizen's routes are authenticated by the OpenID Connect ID token, like their view of accesses
(exchange/transparency/api.py); `/v1/transparency/consents` is on the public list of
exchange/auth/fastapi.py for that reason. The steps are flow.py's, shared with the citizen page.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path

from exchange.auth.core import Principal
from exchange.auth.fastapi import include_protected, require_scope
from exchange.consent import flow, service
from exchange.consent.models import (
    CONSENT_ID_PATTERN,
    ConsentDecisionIn,
    ConsentForCitizen,
    ConsentForConsumer,
)
from exchange.deps import GatewayStateDep
from exchange.queries.models import QueryOut
from exchange.transparency.api import signed_in_citizen
from exchange.transparency.oidc import Citizen
from protocol.errors import NotFound
from web.problems import PROBLEM_JSON

CITIZEN_PATH = "/v1/transparency/consents"
ID = Path(pattern=CONSENT_ID_PATTERN, description="the consent request's id")
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
citizen_router = APIRouter(tags=["exchange: consent"])
consumer_router = APIRouter(prefix="/v1/consents", tags=["exchange: consent"])
SignedIn = Annotated[Citizen, Depends(signed_in_citizen)]


@citizen_router.get(
    CITIZEN_PATH,
    response_model=list[ConsentForCitizen],
    responses={401: {"description": "`unauthenticated`: no valid ID token", **_PROBLEM}},
)
async def my_consents(state: GatewayStateDep, citizen: SignedIn) -> Any:
    """The consent requests about me, newest first: who asks which elements, for which service and case."""
    index = state.platform_keys.blind_index(citizen.subject_type, citizen.subject_id)
    return await flow.of_subject(state, index)


@citizen_router.post(
    f"{CITIZEN_PATH}/{{consent_id}}",
    response_model=ConsentForCitizen,
    responses={
        401: {"description": "`unauthenticated`: no valid ID token", **_PROBLEM},
        403: {"description": "`not_the_subject`: the request is about someone else", **_PROBLEM},
        404: {"description": "`not_found`: no such request", **_PROBLEM},
        409: {"description": "`consent_already_answered`", **_PROBLEM},
        410: {"description": "`consent_expired`: it waited too long", **_PROBLEM},
    },
)
async def answer_consent(
    state: GatewayStateDep, citizen: SignedIn, consent_id: Annotated[str, ID], body: ConsentDecisionIn
) -> Any:
    """Approve or refuse a request about me; on approval the department's answer is made at once."""
    index = state.platform_keys.blind_index(citizen.subject_type, citizen.subject_id)
    return await flow.answer_as(
        state, subject_index=index, consent_id=consent_id, approve=body.decision == "approve"
    )


@consumer_router.get(
    "/{consent_id}",
    response_model=ConsentForConsumer,
    responses={404: {"description": "`not_found`: no such request of the caller's department", **_PROBLEM}},
)
async def get_consent(
    state: GatewayStateDep,
    principal: Annotated[Principal, Depends(require_scope("query"))],
    consent_id: Annotated[str, ID],
) -> Any:
    """A consent request the department's query made: its state and, once approved, the answer."""
    row = await asyncio.to_thread(service.get, engine=state.engine, consent_id=consent_id)
    if row is None or row.consumer != principal.department:
        raise NotFound(f"no consent request {consent_id} of department {principal.department!r}")
    row = await flow.current(state, row)
    answer: QueryOut | None = None
    if row.answer_sealed is not None:
        opened = state.platform_keys.unseal(row.answer_sealed, context=flow.answer_context(row.id))
        answer = QueryOut.model_validate_json(opened)
    elif row.state == "approved":
        answer = await flow.complete(state, row)  # the first attempt did not make it: once more now
    return ConsentForConsumer(
        id=row.id,
        query_id=row.query_id,
        elements=list(row.elements),
        state=row.state,
        created_at=row.created_at,
        expires_at=row.expires_at,
        answered_at=row.answered_at,
        answer=answer,
    )


def install_consent(app: FastAPI) -> None:
    """Mount the consent routes (the citizen's by ID token, the department's by access token)."""
    app.include_router(citizen_router)
    include_protected(app, consumer_router, require_scope("query"))

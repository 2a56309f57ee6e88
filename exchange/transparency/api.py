"""Transparency API: the citizen's view of accesses to their data, and departments' restrictions.

GET /v1/transparency/accesses is authenticated by the citizen's OpenID Connect ID token (oidc.py), not
by a department's access token: its path is on the public list of exchange/auth/fastapi.py and this
module's `signed_in_citizen` dependency is its authentication. POST /v1/transparency/restrictions is
included with `include_protected(..., require_scope("query"))` like the query API; the review routes
(list, approve) with `restriction_reviewer`: a data steward or the platform security officer.
"""

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from exchange.audit import records
from exchange.auth.core import InsufficientScope, Principal
from exchange.auth.fastapi import authenticated_client, include_protected, require_scope
from exchange.deps import GatewayStateDep
from exchange.queries.models import QUERY_ID_PATTERN
from exchange.state import GatewayState, TransparencyState
from exchange.transparency import service
from exchange.transparency.oidc import Citizen, IdTokenVerifier
from exchange.transparency.settings import TransparencySettings
from exchange.transparency.viewing import view_accesses
from protocol.clock import utcnow
from protocol.errors import Unauthenticated
from web.problems import PROBLEM_JSON

ACCESSES_PATH = "/v1/transparency/accesses"
_bearer = HTTPBearer(auto_error=False, description="An ID token of the identity provider (OpenID Connect)")
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
citizen_router = APIRouter(tags=["exchange: transparency"])
department_router = APIRouter(tags=["exchange: transparency"])
review_router = APIRouter(tags=["exchange: transparency"])
RESTRICTIONS_PATH = "/v1/transparency/restrictions"


async def signed_in_citizen(
    state: GatewayStateDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Citizen:
    """The citizen or enterprise of the request's ID token; 401 without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("an ID token is required (Authorization: Bearer ...)")
    return await asyncio.to_thread(state.transparency.verifier.verify, credentials.credentials)


class ElementRef(BaseModel):
    """A data element: its code and registry name."""

    code: str
    name: str | None


class Named(BaseModel):
    """A department or service item: its code and registry name."""

    code: str | None
    name: str | None


class AccessOut(BaseModel):
    """One read of the subject's data by a department."""

    time: datetime
    department: Named
    service_item: Named
    case_no: str | None = Field(description="the department's case number, to quote when contesting")
    query_id: str | None
    elements: list[ElementRef] = Field(description="the elements whose data was released")


class AccessPage(BaseModel):
    """A page of accesses, newest first."""

    accesses: list[AccessOut]
    next_before: int | None = Field(description="pass as `before` for the next page; null on the last")


class RestrictionIn(BaseModel):
    """Hide one of the department's accesses from the citizen until the embargo date."""

    model_config = ConfigDict(extra="forbid")
    query_id: str = Field(pattern=QUERY_ID_PATTERN)
    embargo_until: AwareDatetime
    reason: str = Field(min_length=1, max_length=500, description="e.g. the investigation's reference")


class RestrictionOut(BaseModel):
    """A stored restriction, and whether its length waits for a reviewer's approval."""

    id: int
    query_id: str
    department: str
    embargo_until: datetime
    reason: str
    created_at: datetime
    created_by: str
    approval: Literal["not_needed", "pending", "approved"] = Field(
        description="`pending`: longer than the default, hidden for the default only until approved"
    )
    hides_until: datetime = Field(description="when the access shows again, as things stand")
    approved_at: datetime | None = None
    approved_by: str | None = Field(None, description="the reviewer's client system")


class RestrictionList(BaseModel):
    """Restrictions for review, newest first."""

    restrictions: list[RestrictionOut]


def restriction_reviewer(principal: Annotated[Principal, Depends(authenticated_client)]) -> Principal:
    """A data steward (`registry:steward`) or the platform security officer (`audit:read:all`)."""
    if not (principal.has("registry:steward") or principal.has("audit:read:all")):
        raise InsufficientScope("registry:steward")
    return principal


Reviewer = Annotated[Principal, Depends(restriction_reviewer)]


@citizen_router.get(
    ACCESSES_PATH,
    response_model=AccessPage,
    responses={401: {"description": "`unauthenticated`: no valid ID token", **_PROBLEM}},
)
async def list_accesses(
    state: GatewayStateDep,
    citizen: Annotated[Citizen, Depends(signed_in_citizen)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[int | None, Query(ge=1, description="cursor: `next_before` of the last page")] = None,
) -> dict[str, Any]:
    """Which department read which of my data, when, for which service item and case (newest first)."""
    index = state.platform_keys.blind_index(citizen.subject_type, citizen.subject_id)
    shown, next_before = await view_accesses(state, subject_index=index, limit=limit, before=before)
    return {"accesses": shown, "next_before": next_before}


@department_router.post(
    RESTRICTIONS_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=RestrictionOut,
    responses={
        400: {"description": "`invalid_request`: the embargo is past or too long", **_PROBLEM},
        404: {"description": "`not_found`: the department made no such query", **_PROBLEM},
    },
)
async def create_restriction(
    state: GatewayStateDep,
    body: RestrictionIn,
    principal: Annotated[Principal, Depends(require_scope("query"))],
) -> dict[str, Any]:
    """Hide one of this department's accesses from the citizen's view until the embargo date."""
    settings = state.transparency.settings
    engine = state.engine
    now = utcnow()
    subject_index = await asyncio.to_thread(
        service.check_restriction,
        engine=engine,
        department=principal.department,
        query_id=body.query_id,
        embargo_until=body.embargo_until,
        now=now,
        max_embargo_days=settings.max_embargo_days,
    )
    # Audited before it is stored: a restriction never hides anything without a record of it.
    record = records.transparency_restricted(
        gateway=state.settings.gateway_id,
        department=principal.department,
        system=principal.client_id,
        subject_index=subject_index,
        request_id=body.query_id,
    )
    await state.audit_writer.write([record])
    return await asyncio.to_thread(
        service.add_restriction,
        engine=engine,
        department=principal.department,
        created_by=principal.client_id,
        query_id=body.query_id,
        embargo_until=body.embargo_until,
        reason=body.reason,
        now=now,
        approval_after_days=settings.approval_after_days,
    )


@review_router.get(RESTRICTIONS_PATH, response_model=RestrictionList)
async def list_restrictions(
    state: GatewayStateDep,
    _reviewer: Reviewer,
    which: Annotated[
        Literal["pending", "all"], Query(alias="status", description="`pending`: awaiting approval")
    ] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Departments' restrictions, for a steward's or the security officer's review (newest first)."""
    found = await asyncio.to_thread(
        service.list_restrictions,
        engine=state.engine,
        approval_after_days=state.transparency.settings.approval_after_days,
        pending_only=which == "pending",
        limit=limit,
    )
    return {"restrictions": found}


@review_router.post(
    RESTRICTIONS_PATH + "/{restriction_id}/approve",
    response_model=RestrictionOut,
    responses={
        404: {"description": "`not_found`: no such restriction", **_PROBLEM},
        409: {"description": "`conflict`: already approved, or within the default", **_PROBLEM},
    },
)
async def approve_restriction(
    state: GatewayStateDep, restriction_id: Annotated[int, Path(ge=1)], reviewer: Reviewer
) -> dict[str, Any]:
    """Approve a restriction longer than the default: the access stays hidden until its embargo."""
    return await approve_reviewed(
        state, restriction_id=restriction_id, department=reviewer.department, system=reviewer.client_id
    )


async def approve_reviewed(
    state: GatewayState, *, restriction_id: int, department: str, system: str
) -> dict[str, Any]:
    """The one approval path (API and console): checked, audited before it is stored, then stored."""
    days = state.transparency.settings.approval_after_days
    engine = state.engine
    found = await asyncio.to_thread(
        service.get_restriction_or_raise, engine=engine, restriction_id=restriction_id
    )
    service.check_approvable(found, approval_after_days=days)
    subject_index = await asyncio.to_thread(
        service.subject_index_of, engine=engine, department=found.department, query_id=found.query_id
    )
    # Audited before it is stored, like the restriction itself.
    record = records.transparency_approved(
        gateway=state.settings.gateway_id,
        department=department,
        system=system,
        subject_index=subject_index,
        request_id=found.query_id,
        restricting_department=found.department,
    )
    await state.audit_writer.write([record])
    return await asyncio.to_thread(
        service.approve,
        engine=engine,
        restriction_id=restriction_id,
        approved_by=system,
        now=utcnow(),
        approval_after_days=days,
    )


def transparency_state(settings: TransparencySettings) -> TransparencyState:
    """The citizens' view's part of the gateway state (built by the app's lifespan)."""
    return TransparencyState(settings=settings, verifier=IdTokenVerifier(settings))


def install_transparency(app: FastAPI) -> None:
    """Mount the transparency routes on the gateway app (called by the app factory)."""
    app.include_router(citizen_router)  # authenticated by signed_in_citizen (ID token), see module doc
    include_protected(app, department_router, require_scope("query"))
    include_protected(app, review_router, restriction_reviewer)

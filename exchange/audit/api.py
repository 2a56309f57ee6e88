"""Audit API for security officers: search, record proof, export stream, bundle, public keys.

The app factory includes this router with `include_protected(..., require_scope("audit:read"))`: every
route needs an access token granting `audit:read` (REQUIRED_SCOPE). That scope alone shows the
token's own department's records; `audit:read:all` (granted by a steward only) shows every
department's, for the platform security officer (service.scoped, docs/security.md).
"""

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from exchange.audit import export, service
from exchange.audit.export import ExportFilter
from exchange.state import gateway_state
from protocol.identifiers import SubjectType
from web.problems import PROBLEM_JSON

REQUIRED_SCOPE = "audit:read"
router = APIRouter(prefix="/v1/audit", tags=["exchange: audit"])
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "`invalid_request` or `invalid_subject_id`", **_PROBLEM},
    401: {"description": "`unauthenticated`", **_PROBLEM},
    403: {
        "description": "`insufficient_scope`; `forbidden`: other departments' records need `audit:read:all`",
        **_PROBLEM,
    },
    422: {"description": "`invalid_request`: a parameter does not match its schema", **_PROBLEM},
}
_CODE = r"^[A-Za-z0-9_.:-]{1,64}$"


class AuditFilter(BaseModel):
    """Filters of search and export; a subject is given as type + identifier and becomes a blind index."""

    model_config = ConfigDict(extra="forbid")
    time_from: AwareDatetime | None = Field(None, description="records at or after this time (RFC 3339)")
    time_to: AwareDatetime | None = Field(None, description="records before this time (RFC 3339)")
    department: str | None = Field(None, pattern=_CODE, description="the acting department")
    system: str | None = Field(None, pattern=_CODE, description="the acting client system")
    element: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
    purpose: str | None = Field(None, pattern=_CODE, description="the service item code")
    decision: Literal["allow", "deny"] | None = None
    subject_type: SubjectType | None = None
    subject_id: str | None = Field(None, min_length=1, max_length=32)

    def to_filter(self, request: Request, **extra: Any) -> ExportFilter:
        """The export filter, the subject turned into its blind index, narrowed to what the caller may see."""
        fields = self.model_dump(include=set(AuditFilter.model_fields))
        f = service.make_filter(keys=gateway_state(request).platform_keys, **fields, **extra)
        return service.scoped(f, reader_of(request))


def reader_of(request: Request) -> service.Reader:
    """Who reads, from the access token (exchange/auth leaves its principal on the request)."""
    principal = getattr(request.state, "principal", None)
    scopes: frozenset[str] = getattr(principal, "scopes", frozenset())
    return service.Reader(
        department=getattr(principal, "department", None),
        all_departments=service.ALL_DEPARTMENTS_SCOPE in scopes,
    )


class SearchParams(AuditFilter):
    """Search filters and paging."""

    after_seq: int = Field(0, ge=0, description="records after this seq (paging)")
    limit: int = Field(100, ge=1, le=1000)


class ExportParams(AuditFilter):
    """Export filters and the text format."""

    format: Literal["jsonl", "csv"] = "jsonl"


class BundleParams(AuditFilter):
    """Bundle filters; `csv` adds records.csv next to the JSON Lines."""

    csv: bool = False


class RecordsPage(BaseModel):
    """A page of audit records; pass `next_after_seq` as `after_seq` for the next one."""

    records: list[dict[str, Any]]
    next_after_seq: int | None


@router.get("/records", response_model=RecordsPage, responses=_ERRORS)
async def search_records(
    request: Request,
    params: Annotated[SearchParams, Query()],
) -> RecordsPage:
    """Search the audit log: who asked what about whom, why, and what was decided."""
    f = params.to_filter(request)
    rows = await asyncio.to_thread(
        service.search,
        engine=gateway_state(request).engine,
        f=f,
        after_seq=params.after_seq,
        limit=params.limit,
    )
    full = len(rows) == params.limit
    return RecordsPage(records=rows, next_after_seq=rows[-1]["seq"] if full else None)


@router.get(
    "/records/{seq}/proof",
    responses={**_ERRORS, 404: {"description": "`not_found`: no such record online, or not sealed yet"}},
)
async def record_proof(request: Request, seq: int) -> dict[str, Any]:
    """One record with the signed checkpoint covering it and its RFC 6962 inclusion proof."""
    return await asyncio.to_thread(
        service.proof, engine=gateway_state(request).engine, seq=seq, reader=reader_of(request)
    )


@router.get(
    "/export",
    responses={**_ERRORS, 200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
    response_class=StreamingResponse,
)
async def export_stream(
    request: Request,
    params: Annotated[ExportParams, Query()],
) -> StreamingResponse:
    """Stream the sealed records that match, as JSON Lines or CSV (never loaded whole into memory)."""
    f = params.to_filter(request)
    media = "text/csv; charset=utf-8" if params.format == "csv" else "application/x-ndjson"
    # A sync generator: Starlette iterates it in a worker thread, so the database reads never block.
    return StreamingResponse(
        export.stream_records(gateway_state(request).engine, f, params.format), media_type=media
    )


@router.get(
    "/bundle",
    responses={**_ERRORS, 200: {"content": {"application/zip": {}}}},
    response_class=FileResponse,
)
async def export_bundle(request: Request, params: Annotated[BundleParams, Query()]) -> FileResponse:
    """A verifiable bundle (ZIP): records, covering checkpoints, public key (`shuyuan audit verify`)."""
    f = params.to_filter(request)
    fd, name = tempfile.mkstemp(prefix="shuyuan-audit-", suffix=".zip")
    os.close(fd)
    try:
        formats: tuple[export.Format, ...] = ("jsonl", "csv") if params.csv else ("jsonl",)
        await asyncio.to_thread(
            export.write_bundle, gateway_state(request).engine, f, Path(name), formats=formats
        )
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type="application/zip",
        filename="shuyuan-audit-bundle.zip",
        background=BackgroundTask(os.unlink, name),
    )


@router.get("/public-keys", responses=_ERRORS)
async def public_keys(request: Request) -> list[dict[str, str]]:
    """The audit keys (Ed25519, PEM) checkpoints are signed with."""
    return await asyncio.to_thread(service.public_keys, engine=gateway_state(request).engine)

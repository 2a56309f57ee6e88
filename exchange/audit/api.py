"""Audit API for security officers: search, record proof, export stream, bundle, public keys; and for
the witness: the newest checkpoint, consistency proofs, co-signatures and refusals (docs/audit.md).

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
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from exchange.audit import export, records, service, tlog
from exchange.audit.cosignature import ORIGIN_PATTERN, WitnessProblem
from exchange.audit.events import AuditAction
from exchange.audit.export import ExportFilter
from exchange.state import gateway_state
from protocol.errors import InvalidRequest
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
    """Bundle filters; `csv` adds records.csv next to the JSON Lines; `witnessed` ends at the newest
    checkpoint a witness co-signed."""

    csv: bool = False
    witnessed: bool = False


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
    f = params.to_filter(request, witnessed=params.witnessed or None)
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


_HEX = r"^[0-9a-f]{64}$"
_PEM = r"^-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----\s*$"


class CosignatureIn(BaseModel):
    """A witness's co-signature of a checkpoint's tree (statement: exchange/audit/cosignature.py)."""

    model_config = ConfigDict(extra="forbid")
    public_key_pem: str = Field(max_length=400, pattern=_PEM, description="the witness's Ed25519 key")
    origin: str = Field(pattern=ORIGIN_PATTERN)
    timestamp: int = Field(ge=0, lt=2**40, description="unix seconds of the statement")
    signature: str = Field(pattern=r"^[A-Za-z0-9_-]{86}$", description="base64url Ed25519 signature")
    witness: str | None = Field(None, max_length=64, description="ignored: the key's fingerprint is used")


class RefusalIn(BaseModel):
    """A witness's refusal to co-sign the log's tree of this size, with the tree it co-signed last."""

    model_config = ConfigDict(extra="forbid")
    public_key_pem: str = Field(max_length=400, pattern=_PEM)
    problem: WitnessProblem
    detail: str = Field(max_length=500)
    seen_size: int = Field(ge=0)
    seen_root: str = Field(pattern=_HEX)


async def _audit_witness(
    request: Request, action: AuditAction, *, size: int, pem: str, reason: str | None = None
) -> None:
    from exchange.audit.keys import fingerprint, load_public_pem

    try:
        witness: str | None = fingerprint(load_public_pem(pem))
    except ValueError:
        witness = None
    principal = getattr(request.state, "principal", None)
    state = gateway_state(request)
    record = records.witness_step(
        gateway=state.settings.gateway_id, action=action, department=getattr(principal, "department", None),
        system=getattr(principal, "client_id", None), witness=witness, tree_size=size, reason=reason,
    )  # fmt: skip
    await state.audit_writer.write([record])


_WITNESS_ERRORS = {**_ERRORS, 404: {"description": "`not_found`: no such tree in the log", **_PROBLEM}}


@router.get("/checkpoints/latest", responses=_WITNESS_ERRORS)
async def latest_checkpoint(request: Request) -> dict[str, Any]:
    """The newest signed checkpoint with its log-wide tree (size, root), co-signatures and audit key."""
    state = gateway_state(request)
    return await asyncio.to_thread(tlog.latest, engine=state.engine, origin=state.settings.audit.origin)


@router.get("/consistency", responses=_WITNESS_ERRORS)
async def consistency_proof(
    request: Request,
    first: Annotated[int, Query(alias="from", ge=0, description="the tree size the witness saw")],
    second: Annotated[int, Query(alias="to", ge=0, description="the size of a newer checkpoint")],
) -> dict[str, Any]:
    """An RFC 9162 consistency proof (hex nodes) between two sizes of the log-wide tree."""
    return await asyncio.to_thread(
        tlog.consistency, engine=gateway_state(request).engine, first=first, second=second
    )


@router.post("/checkpoints/{size}/cosignatures", status_code=201, responses=_WITNESS_ERRORS)
async def add_cosignature(
    request: Request, size: Annotated[int, PathParam(ge=1)], body: CosignatureIn
) -> dict[str, Any]:
    """Keep a witness's co-signature; one that does not verify is refused, and the refusal audited."""
    state = gateway_state(request)
    try:
        kept = await asyncio.to_thread(
            tlog.add_cosignature, engine=state.engine, size=size, cosig=body.model_dump(),
            origin=state.settings.audit.origin,
        )  # fmt: skip
    except InvalidRequest as exc:
        await _audit_witness(
            request, AuditAction.AUDIT_COSIGNATURE_REFUSED, size=size, pem=body.public_key_pem
        )
        exc.audited = True  # recorded above with the witness's key, not again as a plain request.denied
        raise
    await _audit_witness(request, AuditAction.AUDIT_COSIGNED, size=size, pem=body.public_key_pem)
    return kept


@router.post("/checkpoints/{size}/refusals", status_code=202, responses=_ERRORS)
async def witness_refused(
    request: Request, size: Annotated[int, PathParam(ge=0)], body: RefusalIn
) -> dict[str, Any]:
    """A witness says the log's tree of this size is not consistent with what it saw: on the chain."""
    await _audit_witness(
        request, AuditAction.AUDIT_WITNESS_REFUSED, size=size, pem=body.public_key_pem, reason=body.problem
    )
    return {"recorded": True, "tree_size": size, "problem": body.problem}

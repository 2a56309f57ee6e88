"""The security officers' audit pages in the console: search, record detail with its proof, bundle
download, verification of an uploaded bundle. One of the console's views (console/app.py).

Every page needs the `security_officer` role; a bundle download is itself audited (`audit.exported`).
"""

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import ValidationError
from sqlalchemy import Engine
from starlette.background import BackgroundTask

from console.web import Officer, console_state, render
from exchange.audit import checkpoint, export, records, service
from exchange.audit.api import AuditFilter
from exchange.audit.export import ExportFilter
from exchange.audit.keys import PinnedKeys, load_public_pem
from exchange.audit.verify import verify_bundle
from protocol.errors import InvalidRequest

router = APIRouter(prefix="/audit")
MAX_UPLOAD = 2 * 1024**3  # a bundle of a few months stays well below this


def _filters(request: Request) -> tuple[AuditFilter, ExportFilter]:
    raw = {k: v for k, v in request.query_params.items() if v != "" and k in AuditFilter.model_fields}
    for k in ("time_from", "time_to"):
        # The browser's datetime-local has no offset; the console speaks China Standard Time.
        if k in raw and len(raw[k]) <= 19:
            raw[k] += "+08:00"
    try:
        form = AuditFilter.model_validate(raw)
    except ValidationError as exc:
        raise InvalidRequest("a filter is not valid: " + "; ".join(e["msg"] for e in exc.errors())) from exc
    fields = form.model_dump(include=set(AuditFilter.model_fields))
    return form, service.make_filter(keys=console_state(request).gateway.platform_keys, **fields)


@router.get("", response_class=HTMLResponse)
async def search_page(request: Request, officer: Officer) -> HTMLResponse:
    """Search the log with filters; the newest matches are shown, the full set can be downloaded."""
    form, f = _filters(request)
    rows = await asyncio.to_thread(service.search, engine=_engine(request), f=f, after_seq=0, limit=200)
    query = request.url.query
    return render(
        request, "audit_search.html", {"active": "audit", "form": form, "rows": rows, "query": query}
    )


@router.get("/records/{seq}", response_class=HTMLResponse)
async def record_page(request: Request, officer: Officer, seq: int) -> HTMLResponse:
    """One record with its signed checkpoint and inclusion proof, checked on the server."""
    try:
        proof: dict[str, Any] | None = await asyncio.to_thread(
            service.proof, engine=_engine(request), seq=seq
        )
    except Exception as exc:  # not found or not sealed: show what there is
        if getattr(exc, "status", None) != 404:
            raise
        proof = None
        detail = str(exc)
    else:
        detail = ""
    verdict = None
    if proof is not None:
        cp = proof["checkpoint"]
        signed = _signed_by_pinned_key(request, cp)
        included = checkpoint.proof_ok(
            proof["record"]["hash"], proof["leaf_index"], proof["tree_size"], proof["path"], cp["merkle_root"]
        )
        verdict = signed and included
    context = {"active": "audit", "seq": seq, "proof": proof, "verdict": verdict, "detail": detail}
    return render(request, "audit_record.html", context, status=200 if proof or not detail else 404)


def _pins(request: Request) -> PinnedKeys:
    """The gateway's configured audit key (its settings), never the database's or a bundle's."""
    return console_state(request).gateway.settings.audit.gateway_pins()


def _signed_by_pinned_key(request: Request, cp: dict[str, Any]) -> bool:
    pins = _pins(request)
    key = pins.by_kid(cp["kid"])
    if key is None and pins.fingerprints:  # pinned by fingerprint: the stored key must match it
        stored = {k["kid"]: k["public_key_pem"] for k in service.public_keys(engine=_engine(request))}
        key = load_public_pem(stored[cp["kid"]]) if cp["kid"] in stored else None
    return key is not None and pins.trusts(key) and checkpoint.signature_ok(cp, key)


@router.get("/bundle")
async def bundle_download(
    request: Request, officer: Officer, csv: Annotated[bool, Query()] = False
) -> FileResponse:
    """Download a verifiable bundle of the filtered records; the export is audited."""
    _, f = _filters(request)
    fd, name = tempfile.mkstemp(prefix="shuyuan-audit-", suffix=".zip")
    os.close(fd)
    try:
        formats: tuple[export.Format, ...] = ("jsonl", "csv") if csv else ("jsonl",)
        manifest = await asyncio.to_thread(
            export.write_bundle, _engine(request), f, Path(name), formats=formats
        )
        await _audit_export(request, officer.username, f, manifest)
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name, media_type="application/zip", filename="shuyuan-audit-bundle.zip",
        background=BackgroundTask(os.unlink, name),
    )  # fmt: skip


async def _audit_export(request: Request, username: str, f: ExportFilter, manifest: dict[str, Any]) -> None:
    gateway = console_state(request).gateway
    writer = gateway.audit_writer
    record = records.audit_exported(
        gateway=gateway.settings.gateway_id,
        officer=username,
        subject_index=f.subject_index,
        element=f.element,
        service_item=f.purpose,
        department=f.department,
    )
    # Like an answer, an export is handed out only once its own audit record is durable.
    await writer.write([record])


@router.get("/verify", response_class=HTMLResponse)
async def verify_page(request: Request, officer: Officer) -> HTMLResponse:
    """The upload form, naming the audit key the page trusts."""
    context = {"active": "audit", "report": None, "trusted": _pins(request).trusted()}
    return render(request, "audit_verify.html", context)


@router.post("/verify", response_class=HTMLResponse)
async def verify_upload(request: Request, officer: Officer, bundle: UploadFile) -> HTMLResponse:
    """Verify an uploaded bundle with the offline verifier (the file is kept on disk, not in memory)."""
    fd, name = tempfile.mkstemp(prefix="shuyuan-verify-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out:
            await asyncio.to_thread(shutil.copyfileobj, bundle.file, out, 1024 * 1024)
        if os.path.getsize(name) > MAX_UPLOAD:
            raise InvalidRequest("the bundle is too large to verify here; use `shuyuan audit verify`")
        pins = _pins(request)
        report = await asyncio.to_thread(verify_bundle, Path(name), pinned=pins)
    finally:
        os.unlink(name)
    status = 200 if report.ok else 422
    context = {"active": "audit", "report": report, "trusted": pins.trusted()}
    return render(request, "audit_verify.html", context, status=status)


def _engine(request: Request) -> Engine:
    return console_state(request).gateway.engine

"""The security officers' audit pages in the console: search, record detail with its proof, bundle
download, verification of an uploaded bundle. Included into the console app by the gateway factory.

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
from jinja2 import ChoiceLoader, FileSystemLoader
from pydantic import ValidationError
from starlette.background import BackgroundTask

from exchange.audit import checkpoint, export, service
from exchange.audit.api import AuditFilter
from exchange.audit.export import ExportFilter
from exchange.audit.keys import load_public_pem
from exchange.audit.verify import verify_bundle
from protocol.errors import InvalidRequest
from registry.console.i18n import MESSAGES
from registry.console.web import TEMPLATES, Officer, render

router = APIRouter(prefix="/audit")
_HERE = Path(__file__).parent / "templates"
MAX_UPLOAD = 2 * 1024**3  # a bundle of a few months stays well below this

# The audit templates extend the console's base.html: one template environment, one more folder.
if not getattr(TEMPLATES.env, "_shuyuan_audit", False):
    TEMPLATES.env.loader = ChoiceLoader([TEMPLATES.env.loader, FileSystemLoader(str(_HERE))])  # type: ignore[list-item]
    TEMPLATES.env._shuyuan_audit = True  # type: ignore[attr-defined]

_MESSAGES = {
    "nav.audit": ("审计日志", "Audit log"),
    "audit.title": ("审计日志", "Audit log"),
    "audit.subtitle": ("谁、为何、查询了谁的哪些数据，结果如何；记录经哈希链与签名检查点防篡改。",
                       "Who asked what about whom, why, and what was decided; hash-chained and signed."),
    "audit.filter": ("筛选", "Filter"),
    "audit.from": ("起始时间", "From"),
    "audit.to": ("截止时间", "To"),
    "audit.department": ("部门", "Department"),
    "audit.system": ("系统", "System"),
    "audit.element": ("数据元", "Element"),
    "audit.purpose": ("政务服务事项", "Service item"),
    "audit.decision": ("决定", "Decision"),
    "audit.subject_type": ("主体类型", "Subject type"),
    "audit.subject_id": ("主体标识（仅用于计算盲索引）", "Subject identifier (turned into its blind index)"),
    "audit.search": ("查询", "Search"),
    "audit.download": ("下载可验证导出包", "Download verifiable bundle"),
    "audit.download_csv": ("含 CSV", "with CSV"),
    "audit.verify": ("验证导出包", "Verify a bundle"),
    "audit.none": ("没有匹配的记录。", "No matching records."),
    "audit.seq": ("序号", "Seq"),
    "audit.time": ("时间", "Time"),
    "audit.actor": ("操作方", "Actor"),
    "audit.action": ("动作", "Action"),
    "audit.reason": ("原因", "Reason"),
    "audit.request": ("请求", "Request"),
    "audit.shown": ("显示前 {n} 条", "Showing the first {n}"),
    "audit.record": ("审计记录 #{seq}", "Audit record #{seq}"),
    "audit.proof": ("包含证明（RFC 6962）", "Inclusion proof (RFC 6962)"),
    "audit.checkpoint": ("签名检查点", "Signed checkpoint"),
    "audit.proof_ok": ("证明有效：该记录在签名的默克尔根之内。",
                       "Valid: the record is under the signed Merkle root."),
    "audit.proof_bad": ("证明无效！", "The proof does NOT verify!"),
    "audit.unsealed": ("该记录尚未被签名检查点覆盖，稍后再试。",
                       "Not yet covered by a signed checkpoint; retry shortly."),
    "audit.upload": ("选择导出包（.zip）", "Choose a bundle (.zip)"),
    "audit.check": ("验证", "Verify"),
    "audit.verified": ("验证通过：{records} 条记录（序号 {first}..{last}），{checkpoints} 个签名检查点。",
                       "Verified: {records} records (seq {first}..{last}), "
                       "{checkpoints} signed checkpoints."),
    "audit.broken": ("验证失败", "Verification failed"),
    "audit.broken_at": ("首个损坏的记录：序号 {seq}", "First broken record: seq {seq}"),
}  # fmt: skip
for _key, _pair in _MESSAGES.items():
    MESSAGES.setdefault(_key, _pair)


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
    return form, service.make_filter(keys=request.app.state.host.platform_keys, **fields)


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
        keys = {k["kid"]: k["public_key_pem"] for k in service.public_keys(engine=_engine(request))}
        signed = cp["kid"] in keys and checkpoint.signature_ok(cp, load_public_pem(keys[cp["kid"]]))
        included = checkpoint.proof_ok(
            proof["record"]["hash"], proof["leaf_index"], proof["tree_size"], proof["path"], cp["merkle_root"]
        )
        verdict = signed and included
    context = {"active": "audit", "seq": seq, "proof": proof, "verdict": verdict, "detail": detail}
    return render(request, "audit_record.html", context, status=200 if proof or not detail else 404)


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
    writer = request.app.state.host.audit_writer
    row = {
        "gateway": getattr(getattr(request.app.state.host, "settings", None), "gateway_id", None),
        "actor": None,
        "actor_user": f"console:{username}"[:64],
        "action": "audit.exported",
        "subject_index": f.subject_index,
        "elements": [f.element] if f.element else [],
        "service_item": f.purpose,
        "decision": "allow",
        "query_id": None,
        "response_digest": None,
        "case_no": None,
        "reason": None,
        "source": f.department,
    }
    # Like an answer, an export is handed out only once its own audit record is durable.
    await writer.write([row])


@router.get("/verify", response_class=HTMLResponse)
async def verify_page(request: Request, officer: Officer) -> HTMLResponse:
    """The upload form."""
    return render(request, "audit_verify.html", {"active": "audit", "report": None})


@router.post("/verify", response_class=HTMLResponse)
async def verify_upload(request: Request, officer: Officer, bundle: UploadFile) -> HTMLResponse:
    """Verify an uploaded bundle with the offline verifier (the file is kept on disk, not in memory)."""
    fd, name = tempfile.mkstemp(prefix="shuyuan-verify-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out:
            await asyncio.to_thread(shutil.copyfileobj, bundle.file, out, 1024 * 1024)
        if os.path.getsize(name) > MAX_UPLOAD:
            raise InvalidRequest("the bundle is too large to verify here; use `shuyuan audit verify`")
        report = await asyncio.to_thread(verify_bundle, Path(name))
    finally:
        os.unlink(name)
    status = 200 if report.ok else 422
    return render(request, "audit_verify.html", {"active": "audit", "report": report}, status=status)


def _engine(request: Request) -> Any:
    return request.app.state.host.engine

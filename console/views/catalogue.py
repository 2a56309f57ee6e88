"""Catalogue import and export (registry/catalogue_io): download the export; upload, preview, confirm.

The import runs the registry's own import (all rows or none) twice: once as a preview, rolled back,
showing what it would do or every row's problem; then, confirmed, for real. Nothing is parsed here.
"""

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from sqlmodel import Session

from console.users.models import ConsoleUser
from console.web import DbDep, Reader, Steward, actor_of, flash, render
from protocol.errors import InvalidRequest, NotFound, ShuyuanError
from registry.catalogue_io import service
from registry.catalogue_io.api import MAX_IMPORT_BYTES
from registry.catalogue_io.service import ImportReport

router = APIRouter(prefix="/catalogue")
KINDS = ("json", "elements.csv", "service-items.csv")


def _run(session: Session, user: ConsoleUser, kind: str, text: str) -> ImportReport:
    actor = actor_of(user)
    if kind == "json":
        return service.import_json(session=session, data=text.encode("utf-8"), actor=actor)
    csv_in = {"elements_csv": text if kind == "elements.csv" else None}
    csv_in["items_csv"] = text if kind == "service-items.csv" else None
    return service.import_csv(session=session, actor=actor, **csv_in)


@router.get("", response_class=HTMLResponse)
def catalogue_page(request: Request, _user: Reader) -> HTMLResponse:
    """Export links for everyone; the import form for stewards."""
    return render(request, "catalogue/index.html", {"active": "catalogue", "kinds": KINDS})


@router.get("/export.json")
def export_json(session: DbDep, _user: Reader) -> Response:
    """The whole catalogue as JSON, in the import format (the API's export)."""
    body = json.dumps(service.export_document(session=session), ensure_ascii=False, indent=1, default=str)
    headers = {"Content-Disposition": 'attachment; filename="catalogue.json"'}
    return Response(body, media_type="application/json", headers=headers)


@router.get("/export/{name}")
def export_csv(session: DbDep, _user: Reader, name: str, bom: bool = True) -> PlainTextResponse:
    """elements.csv or service-items.csv; with a BOM by default so spreadsheet programs read Chinese."""
    elements_csv, items_csv = service.export_csv(session=session)
    files = {"elements.csv": elements_csv, "service-items.csv": items_csv}
    if name not in files:
        raise NotFound("export elements.csv or service-items.csv")
    return PlainTextResponse(
        ("\ufeff" if bom else "") + files[name],
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _upload(request: Request) -> tuple[str, str, bool]:
    """The kind, the text (an uploaded file, or the previewed text sent back) and whether confirmed."""
    form = await request.form()
    kind = str(form.get("kind", ""))
    if kind not in KINDS:
        raise InvalidRequest("choose JSON, elements.csv or service-items.csv")
    upload = form.get("file")
    if upload is not None and not isinstance(upload, str):
        data = await upload.read(MAX_IMPORT_BYTES + 1)
    else:
        data = str(form.get("text", "")).encode("utf-8")
    if not data:
        raise InvalidRequest("choose a file to import")
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidRequest(f"imports are limited to {MAX_IMPORT_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig") if kind != "json" else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("the file must be UTF-8 (with or without BOM)") from exc
    return kind, text, form.get("confirm") == "yes"


@router.post("/import", response_class=HTMLResponse, response_model=None)
async def import_catalogue(request: Request, session: DbDep, user: Steward) -> Response:
    """Preview an upload (nothing kept) or, confirmed, import it; problems are listed row by row."""
    context: dict[str, Any] = {"active": "catalogue", "kinds": KINDS}
    try:
        kind, text, confirmed = await _upload(request)
        context |= {"kind": kind}
        report = _run(session, user, kind, text)
    except ShuyuanError as exc:
        session.rollback()
        context |= {"problem": exc, "rows": exc.extra.get("errors", [])}
        return render(request, "catalogue/index.html", context, status=exc.status)
    if not confirmed:
        session.rollback()  # a preview: the same import, undone
        context |= {"preview": report, "text": text}
        return render(request, "catalogue/index.html", context)
    flash(request, "ok", "catalogue.imported", **report.model_dump())
    context |= {"done": report}
    return render(request, "catalogue/index.html", context)

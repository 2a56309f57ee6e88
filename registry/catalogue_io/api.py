"""REST API of bulk import and export (JSON and CSV)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from protocol.errors import InvalidRequest, NotFound
from registry.catalogue_io import service
from registry.catalogue_io.service import ImportReport
from registry.deps import ActorDep, SessionDep

router = APIRouter(prefix="/v1/catalogue", tags=["registry: bulk import and export"])
MAX_IMPORT_BYTES = 20 * 1024 * 1024


async def _body(request: Request) -> bytes:
    data = await request.body()
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidRequest(f"imports are limited to {MAX_IMPORT_BYTES} bytes")
    return data


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("CSV must be UTF-8 (with or without BOM)") from exc


@router.post(
    "/import",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}
    },
)
async def import_json(request: Request, session: SessionDep, actor: ActorDep) -> ImportReport:
    """Import a JSON catalogue ({elements, service_items}) as a steward: all rows or none.

    Any problem is `422 import_failed` with `errors: [{file, row, field, message}]` and nothing written.
    """
    return service.import_json(session=session, data=await _body(request), actor=actor)


@router.post(
    "/import/elements.csv",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_elements_csv(request: Request, session: SessionDep, actor: ActorDep) -> ImportReport:
    """Import elements.csv (one element per row, aliases `scope_type:scope:code:name;...`): all or none."""
    return service.import_csv(
        session=session, elements_csv=_text(await _body(request)), items_csv=None, actor=actor
    )


@router.post(
    "/import/service-items.csv",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_items_csv(request: Request, session: SessionDep, actor: ActorDep) -> ImportReport:
    """Import service_items.csv (one material per row): all rows or none."""
    return service.import_csv(
        session=session, elements_csv=None, items_csv=_text(await _body(request)), actor=actor
    )


@router.get("/export")
def export_json(session: SessionDep) -> dict[str, Any]:
    """The whole catalogue as JSON, in the import format."""
    return service.export_document(session=session)


@router.get("/export/{name}", response_class=PlainTextResponse)
def export_csv(
    name: str,
    session: SessionDep,
    bom: Annotated[
        bool, Query(description="prefix a UTF-8 BOM so spreadsheet programs read Chinese")
    ] = False,
) -> PlainTextResponse:
    """`elements.csv` or `service-items.csv`, in the import format."""
    elements_csv, items_csv = service.export_csv(session=session)
    files = {"elements.csv": elements_csv, "service-items.csv": items_csv}
    if name not in files:
        raise NotFound("export elements.csv or service-items.csv")
    text = ("\ufeff" if bom else "") + files[name]
    return PlainTextResponse(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

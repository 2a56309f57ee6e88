"""Aliases (crosswalk): a department's or region's local code for a canonical element; list, add, retire."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from console.forms import form_data, parse
from console.web import DbDep, Pager, Reader, Steward, actor_of, flash, render, settings_of
from protocol.errors import ShuyuanError
from registry.aliases import service as aliases
from registry.aliases.models import AliasCreate, ElementAlias
from registry.elements import service as elements
from registry.elements.models import DataElement
from registry.pagination import PageParams

router = APIRouter(prefix="/aliases")
FormDep = Annotated[dict[str, str], Depends(form_data)]
SCOPE_TYPES = ("department", "region")


def _page(
    request: Request, session: Session, values: dict[str, Any], errors: dict[str, Any], status: int
) -> HTMLResponse:
    scope_type = request.query_params.get("scope_type", "")
    scope = request.query_params.get("scope", "").strip()[:32]
    chosen = scope_type if scope_type in SCOPE_TYPES else None
    size = settings_of(request).page_size

    def page(limit: int, offset: int) -> tuple[list[ElementAlias], int]:
        return aliases.list_(
            session=session,
            page=PageParams(limit=limit, offset=offset),
            scope_type=chosen,
            scope=scope or None,
        )

    _rows, total = page(1, 0)
    pager = Pager(request, total=total, size=size)
    rows, _ = page(size, pager.offset)
    codes = {e.id: e.code for e in (session.get(DataElement, a.element_id) for a in rows) if e}
    context = {
        "active": "aliases",
        "rows": rows,
        "codes": codes,
        "pager": pager,
        "scope_types": SCOPE_TYPES,
        "filters": {"scope_type": scope_type, "scope": scope},
        "v": values,
        "errors": errors,
    }
    return render(request, "aliases/list.html", context, status=status)


@router.get("", response_class=HTMLResponse)
def list_aliases(request: Request, session: DbDep, _user: Reader) -> HTMLResponse:
    """Every alias by scope and local code, filtered by scope, one page; the steward's add form."""
    return _page(request, session, {"scope_type": "department"}, {}, 200)


@router.post("", response_class=HTMLResponse, response_model=None)
def add_alias(request: Request, session: DbDep, user: Steward, data: FormDep) -> Response:
    """Map a local code to an element (the registry refuses a code that already points elsewhere)."""
    alias_in, errors = parse(AliasCreate, data, required=("element",))
    status = 422
    if not errors:
        try:
            element = elements.get_by_code_or_raise(session=session, code=data["element"].strip()[:80])
        except ShuyuanError as exc:
            errors = {"element": ("form.refused_code", {"detail": exc.detail, "reason": exc.reason})}
    if not errors:
        try:
            aliases.create(session=session, element=element, alias_in=alias_in, actor=actor_of(user))
        except ShuyuanError as exc:
            session.rollback()
            errors = {"local_code": ("form.refused_code", {"detail": exc.detail, "reason": exc.reason})}
            status = exc.status
    if errors:
        return _page(request, session, data, errors, status)
    flash(request, "ok", "aliases.added", code=alias_in.local_code, element=element.code)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/aliases", status_code=303)


@router.post("/{alias_id}/retire", response_model=None)
def retire_alias(request: Request, session: DbDep, user: Steward, alias_id: int) -> Response:
    """Remove an alias (recorded in its element's history); the local code no longer resolves."""
    alias = aliases.get_or_raise(session=session, alias_id=alias_id)
    code = alias.local_code
    try:
        aliases.delete(session=session, alias=alias, actor=actor_of(user))
        flash(request, "ok", "aliases.retired", code=code)
    except ShuyuanError as exc:
        session.rollback()
        flash(request, "error", "form.refused_code", detail=exc.detail, reason=exc.reason)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/aliases", status_code=303)

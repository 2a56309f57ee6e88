"""Data elements: search, detail (source, aliases, history), register, edit, status and retirement."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from console import registration
from console.forms import form_data, parse
from console.i18n import translator
from console.web import DbDep, Pager, Reader, Steward, actor_of, flash, language, render, settings_of
from protocol.errors import ShuyuanError
from registry.aliases.models import ElementAlias
from registry.departments.models import Department
from registry.elements import service as elements
from registry.elements.models import (
    INACTIVE_STATUSES,
    DataElement,
    ElementCreate,
    ElementUpdate,
    StatusChange,
)
from registry.impact import service as impact
from registry.pagination import PageParams

router = APIRouter(prefix="/elements")
FormDep = Annotated[dict[str, str], Depends(form_data)]

CHOICES = {
    "subject_type": ("person", "enterprise"),
    "value_type": ("string", "number", "integer", "boolean", "date", "json"),
    "sensitivity": ("public", "internal", "sensitive_personal", "restricted"),
    "grade": ("general", "important", "core"),
    "sharing_type": ("unconditional", "conditional", "not_shared"),
    "update_frequency": (
        "realtime",
        "daily",
        "weekly",
        "monthly",
        "quarterly",
        "yearly",
        "on_change",
        "irregular",
    ),
    "status": ("candidate", "recorded", "qualified", "standard"),
}
FILTERS = ("status", "sharing_type", "subject_type", "source")


def _departments(session: Session) -> list[Department]:
    return list(session.exec(select(Department).order_by(col(Department.code))))


def _element(session: Session, code: str) -> DataElement:
    return elements.get_by_code_or_raise(session=session, code=code)


@router.get("", response_class=HTMLResponse)
def list_elements(request: Request, session: DbDep, _user: Reader, q: str = "") -> HTMLResponse:
    """Search by code, Chinese or English name, or alias; filter; one page of the table."""
    q = q.strip()[:100]
    filters = {k: v for k in FILTERS if (v := request.query_params.get(k, "").strip()[:40])}
    size = settings_of(request).page_size
    _rows, total = elements.list_(session=session, page=PageParams(limit=1, offset=0), q=q or None, **filters)
    pager = Pager(request, total=total, size=size)
    rows, _ = elements.list_(
        session=session, page=PageParams(limit=size, offset=pager.offset), q=q or None, **filters
    )
    sources = {d.id: d for d in _departments(session)}
    context = {
        "active": "elements",
        "rows": rows,
        "sources": sources,
        "pager": pager,
        "q": q,
        "filters": filters,
        "choices": CHOICES,
    }
    # An htmx search swaps only the table, so typing keeps the focus in the search box.
    template = "elements/_table.html" if request.headers.get("hx-request") else "elements/list.html"
    return render(request, template, context)


# Field -> prefix of the message keys of its choices.
_LABEL_PREFIX = {
    "subject_type": "subject.",
    "value_type": "vtype.",
    "sensitivity": "sensitivity.",
    "grade": "grade.",
    "sharing_type": "sharing.",
    "update_frequency": "freq.",
    "status": "status.",
}


def _options(request: Request, session: Session) -> dict[str, list[tuple[str, str]]]:
    t = translator(language(request))
    options = {name: [(v, t(_LABEL_PREFIX[name] + v)) for v in values] for name, values in CHOICES.items()}
    options["subject_type"] = [("", t("form.choose")), *options["subject_type"]]
    options["source"] = [("", t("form.choose"))] + [
        (d.code, f"{d.name} · {d.code}") for d in _departments(session)
    ]
    return options


def _form_context(
    request: Request, session: Session, values: dict[str, Any], errors: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "active": "elements",
        "v": values,
        "errors": errors,
        "options": _options(request, session),
    } | extra


@router.get("/new", response_class=HTMLResponse)
def new_element(request: Request, session: DbDep, _user: Steward) -> HTMLResponse:
    """The registration form."""
    defaults = {
        "status": "recorded",
        "sensitivity": "internal",
        "grade": "general",
        "sharing_type": "unconditional",
        "value_type": "string",
        "update_frequency": "on_change",
    }
    return render(request, "elements/form.html", _form_context(request, session, defaults, {}, mode="new"))


@router.post("/new", response_class=HTMLResponse, response_model=None)
def create_element(request: Request, session: DbDep, user: Steward, data: FormDep) -> Response:
    """Register an element; a claim on an existing or near-duplicate element opens a dispute instead."""
    element_in, errors = parse(ElementCreate, data, json_fields=("value_schema",))
    if errors:
        return render(
            request,
            "elements/form.html",
            _form_context(request, session, data, errors, mode="new"),
            status=422,
        )
    try:
        outcome = registration.register(session=session, element_in=element_in, actor=actor_of(user))
    except ShuyuanError as exc:
        session.rollback()
        errors = {registration.field_of(exc): ("form.refused", {"detail": exc.detail})}
        return render(
            request,
            "elements/form.html",
            _form_context(request, session, data, errors, mode="new"),
            status=exc.status,
        )
    root = request.scope.get("root_path", "")
    if outcome.dispute_id is not None:
        flash(request, "info", "element.disputed", code=element_in.code, existing=outcome.existing_code)
        return RedirectResponse(f"{root}/disputes/{outcome.dispute_id}", status_code=303)
    flash(request, "ok", "element.created", code=element_in.code)
    return RedirectResponse(f"{root}/elements/{element_in.code}", status_code=303)


@router.get("/{code}", response_class=HTMLResponse)
def element_detail(request: Request, session: DbDep, _user: Reader, code: str) -> HTMLResponse:
    """Everything about one element: attributes, source, aliases, history, dependants."""
    element = _element(session, code)
    history, history_total = elements.history(
        session=session, element=element, page=PageParams(limit=50, offset=0)
    )
    aliases = session.exec(
        select(ElementAlias).where(ElementAlias.element_id == element.id).order_by(col(ElementAlias.scope))
    ).all()
    context = {
        "active": "elements",
        "e": element,
        "source": session.get(Department, element.source_department_id),
        "successor": session.get(DataElement, element.superseded_by_id) if element.superseded_by_id else None,
        "aliases": aliases,
        "history": history,
        "history_total": history_total,
        "impact": impact.impact_of(session=session, element=element),
        "next_statuses": sorted(elements.TRANSITIONS[element.status] - INACTIVE_STATUSES),
        "inactive": element.status in INACTIVE_STATUSES,
        "departments": _departments(session),
    }
    return render(request, "elements/detail.html", context)


@router.get("/{code}/edit", response_class=HTMLResponse)
def edit_element(request: Request, session: DbDep, _user: Steward, code: str) -> HTMLResponse:
    """The edit form, filled with the current values."""
    element = _element(session, code)
    values = element.model_dump()
    values["value_schema"] = registration.schema_text(element.value_schema)
    return render(
        request, "elements/form.html", _form_context(request, session, values, {}, mode="edit", e=element)
    )


@router.post("/{code}/edit", response_class=HTMLResponse, response_model=None)
def update_element(request: Request, session: DbDep, user: Steward, code: str, data: FormDep) -> Response:
    """Save changed attributes with a reason (written to the element's history)."""
    element = _element(session, code)
    element_in, errors = parse(
        ElementUpdate, data, json_fields=("value_schema",), required=("name_zh", "name_en")
    )
    if errors:
        context = _form_context(request, session, data | {"code": code}, errors, mode="edit", e=element)
        return render(request, "elements/form.html", context, status=422)
    try:
        elements.update(session=session, element=element, element_in=element_in, actor=actor_of(user))
    except ShuyuanError as exc:
        session.rollback()
        errors = {registration.field_of(exc): ("form.refused", {"detail": exc.detail})}
        context = _form_context(
            request, session, data | {"code": code}, errors, mode="edit", e=_element(session, code)
        )
        return render(request, "elements/form.html", context, status=exc.status)
    flash(request, "ok", "element.updated", code=code)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/elements/{code}", status_code=303)


@router.post("/{code}/status", response_class=HTMLResponse, response_model=None)
def change_status(request: Request, session: DbDep, user: Steward, code: str, data: FormDep) -> Response:
    """Move the registration status forward (qualify, standardise)."""
    element = _element(session, code)
    change, errors = parse(StatusChange, {"status": data.get("status", ""), "reason": data.get("reason", "")})
    if errors or change.status in INACTIVE_STATUSES:
        flash(request, "error", "element.status_invalid")
    else:
        try:
            elements.change_status(session=session, element=element, change=change, actor=actor_of(user))
            flash(request, "ok", "element.status_changed", code=code, status=change.status)
        except ShuyuanError as exc:
            session.rollback()
            flash(request, "error", "element.refused", detail=exc.detail)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/elements/{code}", status_code=303)


@router.get("/{code}/retire", response_class=HTMLResponse)
def retire_form(
    request: Request, session: DbDep, _user: Steward, code: str, to: str = "retired"
) -> HTMLResponse:
    """The impact view: everything that depends on the element, to confirm before retiring or superseding."""
    element = _element(session, code)
    target = "superseded" if to == "superseded" else "retired"
    context = {
        "active": "elements",
        "e": element,
        "target": target,
        "errors": {},
        "v": {},
        "impact": impact.impact_of(session=session, element=element),
        "allowed": target in elements.TRANSITIONS[element.status],
    }
    return render(request, "elements/retire.html", context)


@router.post("/{code}/retire", response_class=HTMLResponse, response_model=None)
def retire(request: Request, session: DbDep, user: Steward, code: str, data: FormDep) -> Response:
    """Retire or supersede, only with the impact list confirmed (its token) and a reason."""
    element = _element(session, code)
    target = "superseded" if data.get("to") == "superseded" else "retired"
    report = impact.impact_of(session=session, element=element)
    errors: dict[str, Any] = {}
    if data.get("confirmed") != "yes":
        errors["confirmed"] = ("retire.confirm_required", {})
    if not data.get("reason", "").strip():
        errors["reason"] = ("form.required", {})
    if target == "superseded" and not data.get("superseded_by", "").strip():
        errors["superseded_by"] = ("form.required", {})
    if not errors:
        change = StatusChange(
            status=target,
            reason=data["reason"].strip()[:2000],
            confirm=data.get("token", "")[:64],
            superseded_by=data.get("superseded_by", "").strip()[:80] or None,
        )
        try:
            elements.change_status(session=session, element=element, change=change, actor=actor_of(user))
        except ShuyuanError as exc:
            session.rollback()
            element = _element(session, code)
            report = impact.impact_of(session=session, element=element)
            errors["confirmed" if "confirm" in exc.reason else "__all__"] = (
                "form.refused",
                {"detail": exc.detail},
            )
        else:
            flash(request, "ok", "element.status_changed", code=code, status=target)
            return RedirectResponse(f"{request.scope.get('root_path', '')}/elements/{code}", status_code=303)
    context = {
        "active": "elements",
        "e": element,
        "target": target,
        "errors": errors,
        "v": data,
        "impact": report,
        "allowed": target in elements.TRANSITIONS[element.status],
    }
    return render(request, "elements/retire.html", context, status=422)

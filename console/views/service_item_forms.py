"""Service items (政务服务事项): a steward registers or changes one with its materials and their elements.

The form writes materials as lines, `material name: element.code, element.code` (an empty list: the
material cannot be replaced yet; `material name @role: ...` for a material of another role than the
first), participants as department codes, subject roles as lines `role: person|enterprise name`, and
a bundle's (一件事) steps as lines `code @department name: material | material`. The registry's
create and replace check everything (the reason codes of docs/registry.md, "Bundles").
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from console.forms import field_errors, form_data
from console.web import DbDep, Steward, actor_of, flash, render
from protocol.errors import Conflict, ShuyuanError
from registry.departments.models import Department
from registry.service_items import service as service_items
from registry.service_items.models import ServiceItemCreate

router = APIRouter(prefix="/service-items")
FormDep = Annotated[dict[str, str], Depends(form_data)]
_SPLIT = re.compile(r"[\s,，、;；]+")


def materials_text(materials: list[Any], first_role: str | None = None) -> str:
    """The form's text for materials: one `name: code, code` per line (`name @role: ...` when the
    material is another role's than the first)."""
    lines = []
    for m in materials:
        role = f" @{m.subject_role}" if m.subject_role and m.subject_role != first_role else ""
        lines.append(f"{m.name}{role}: {', '.join(m.elements)}")
    return "\n".join(lines)


def subjects_text(subjects: list[Any]) -> str:
    """The form's text for subject roles: one `role: subject_type name` per line."""
    return "\n".join(f"{r.role}: {r.subject_type} {r.name}" for r in subjects)


def steps_text(steps: list[Any]) -> str:
    """The form's text for a bundle's steps: one `code @department name: material | material` per line."""
    return "\n".join(f"{s.code} @{s.department} {s.name}: {' | '.join(s.materials)}" for s in steps)


def _lines(text: str) -> list[tuple[str, str]]:
    """(head, tail) of each non-empty line split at its first colon (full-width too)."""
    out = []
    for line in text.splitlines():
        if line.strip():
            head, _, tail = line.replace("：", ":").partition(":")
            out.append((head.strip(), tail.strip()))
    return out


def _materials(text: str) -> list[dict[str, Any]]:
    out = []
    for head, codes in _lines(text):
        name, _, role = head.partition(" @")
        material: dict[str, Any] = {"name": name.strip(), "elements": [c for c in _SPLIT.split(codes) if c]}
        if role.strip():
            material["subject_role"] = role.strip()
        out.append(material)
    return out


def _subjects(text: str) -> list[dict[str, Any]]:
    out = []
    for role, rest in _lines(text):
        subject_type, _, name = rest.partition(" ")
        out.append({"role": role, "subject_type": subject_type.strip(), "name": name.strip()})
    return out


def _steps(text: str) -> list[dict[str, Any]]:
    out = []
    for head, materials in _lines(text):
        code, _, rest = head.partition(" ")
        department, _, name = rest.strip().removeprefix("@").partition(" ")
        out.append(
            {
                "code": code,
                "name": name.strip(),
                "department": department.strip(),
                "materials": [m.strip() for m in materials.replace("｜", "|").split("|") if m.strip()],
            }
        )
    return out


def _field_of(exc: ShuyuanError) -> str:
    """Which field a registry refusal is about, so it is shown next to that field."""
    detail = exc.detail.lower()
    if isinstance(exc, Conflict):
        return "code"
    bundle = {
        "step_not_participant": "steps",
        "material_in_two_steps": "steps",
        "unknown_material": "steps",
        "unknown_subject_role": "materials",
    }
    if exc.reason in bundle:
        return bundle[exc.reason]
    for word, name in (
        ("step", "steps"),
        ("role", "subjects"),
        ("participant", "participants"),
        ("material", "materials"),
        ("department", "handling_department"),
    ):
        if word in detail:
            return name
    return "__all__"


def _context(
    session: Session, values: dict[str, Any], errors: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    depts = session.exec(select(Department).order_by(col(Department.code))).all()
    return {"active": "service_items", "v": values, "errors": errors, "departments": depts} | extra


def _submit(
    request: Request, session: DbDep, user: Steward, data: dict[str, str], code: str | None
) -> Response:
    raw = {
        "code": code or data.get("code", "").strip(),
        "name": data.get("name", "").strip(),
        "handling_department": data.get("handling_department", ""),
        "participants": [c for c in _SPLIT.split(data.get("participants", "")) if c],
        "materials": _materials(data.get("materials", "")),
        "subjects": _subjects(data.get("subjects", "")),
        "steps": _steps(data.get("steps", "")),
    }
    mode = "edit" if code else "new"
    status, errors = 422, {}
    try:
        item_in = ServiceItemCreate.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors(exc)
    else:
        try:
            if code is None:
                service_items.create(session=session, item_in=item_in, actor=actor_of(user))
            else:
                item = service_items.get_by_code_or_raise(session=session, code=code)
                service_items.replace(session=session, item=item, item_in=item_in, actor=actor_of(user))
        except ShuyuanError as exc:
            session.rollback()
            status = exc.status
            errors = {_field_of(exc): ("form.refused_code", {"detail": exc.detail, "reason": exc.reason})}
    if errors:
        context = _context(session, data | {"code": raw["code"]}, errors, mode=mode)
        return render(request, "service_items/form.html", context, status=status)
    flash(request, "ok", "items.saved", code=raw["code"])
    return RedirectResponse(
        f"{request.scope.get('root_path', '')}/service-items/{raw['code']}", status_code=303
    )


@router.get("/new", response_class=HTMLResponse)
def new_item(request: Request, session: DbDep, _user: Steward) -> HTMLResponse:
    """The registration form."""
    return render(request, "service_items/form.html", _context(session, {}, {}, mode="new"))


@router.post("/new", response_model=None)
def create_item(request: Request, session: DbDep, user: Steward, data: FormDep) -> Response:
    """Register a service item through the registry's create (stewards only)."""
    return _submit(request, session, user, data, None)


@router.get("/{code}/edit", response_class=HTMLResponse)
def edit_item(request: Request, session: DbDep, _user: Steward, code: str) -> HTMLResponse:
    """The edit form, filled with the item as the registry reads it."""
    item = service_items.get_by_code_or_raise(session=session, code=code)
    read = service_items.to_read(session=session, item=item)
    values = {
        "code": read.code,
        "name": read.name,
        "handling_department": read.handling_department,
        "participants": " ".join(read.participants),
        "materials": materials_text(read.materials, read.subjects[0].role if read.subjects else None),
        "subjects": subjects_text(read.subjects),
        "steps": steps_text(read.steps),
    }
    return render(request, "service_items/form.html", _context(session, values, {}, mode="edit"))


@router.post("/{code}/edit", response_model=None)
def update_item(request: Request, session: DbDep, user: Steward, code: str, data: FormDep) -> Response:
    """Replace name, departments and materials through the registry's replace (the code stays)."""
    service_items.get_by_code_or_raise(session=session, code=code)
    return _submit(request, session, user, data, code)

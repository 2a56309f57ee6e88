"""Bulk import and export of the catalogue: all-or-nothing, with a row-by-row error report."""

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session, col, select

from protocol.errors import ShuyuanError
from registry.actors import Actor, require_steward
from registry.aliases import service as aliases
from registry.aliases.models import AliasCreate, ElementAlias
from registry.catalogue_io.formats import (
    ELEMENT_COLUMNS,
    ITEM_COLUMNS,
    RowError,
    Rows,
    parse_csv,
    parse_json,
    to_csv,
)
from registry.db import begin_for_savepoints
from registry.departments.models import Department
from registry.elements import service as elements
from registry.elements.models import DataElement, ElementCreate, ElementUpdate
from registry.errors import ImportFailed
from registry.flows import near_duplicate
from registry.service_items import service as service_items
from registry.service_items.models import ServiceItem, ServiceItemCreate


class ElementRow(ElementCreate):
    """An element row with its aliases."""

    aliases: list[AliasCreate] = Field(default_factory=list)


class ImportReport(BaseModel):
    """What an import did."""

    elements_created: int = 0
    elements_updated: int = 0
    aliases_added: int = 0
    items_created: int = 0
    items_replaced: int = 0


def import_json(*, session: Session, data: bytes, actor: Actor) -> ImportReport:
    """Import a JSON catalogue document (see registry/catalogue_io/formats.py)."""
    require_steward(actor, "import the catalogue")
    return _apply(session=session, rows=parse_json(data), actor=actor, names=("elements", "service_items"))


def import_csv(
    *, session: Session, elements_csv: str | None, items_csv: str | None, actor: Actor
) -> ImportReport:
    """Import elements.csv and/or service_items.csv."""
    require_steward(actor, "import the catalogue")
    return _apply(
        session=session,
        rows=parse_csv(elements_csv, items_csv),
        actor=actor,
        names=("elements.csv", "service_items.csv"),
        csv_items=True,
    )


def _apply(
    *, session: Session, rows: Rows, actor: Actor, names: tuple[str, str], csv_items: bool = False
) -> ImportReport:
    errors = list(rows.errors)
    report = ImportReport()
    begin_for_savepoints(session)
    item_row = _csv_item_row if csv_items else _item_row
    for files, batch, apply in ((names[0], rows.elements, _element_row), (names[1], rows.items, item_row)):
        for n, raw in batch:
            try:
                # A savepoint per row: a failing row leaves nothing behind; later rows are still checked.
                with session.begin_nested():
                    apply(session, raw, actor, report)
            except ValidationError as exc:
                errors.extend(
                    RowError(files, n, ".".join(str(p) for p in err["loc"]), err["msg"])
                    for err in exc.errors()[:20]
                )
            except ShuyuanError as exc:
                errors.append(RowError(files, n, "", exc.detail))
    if errors:
        # The caller's unit of work rolls everything back: nothing is half-imported.
        raise ImportFailed(
            f"{len(errors)} problem(s); nothing was imported", errors=[e.as_dict() for e in errors[:500]]
        )
    return report


def _element_row(session: Session, raw: dict[str, Any], actor: Actor, report: ImportReport) -> None:
    row = ElementRow.model_validate(raw)
    element_in = ElementCreate.model_validate(row.model_dump(exclude={"aliases"}))
    element = elements.get_by_code(session=session, code=row.code)
    if element is None:
        source = session.exec(select(Department).where(Department.code == row.source)).first()
        if source is None:
            raise ImportFailed(f"no department {row.source!r}")
        assert source.id is not None, "a department read from the database has an id"
        duplicate = near_duplicate(session=session, element_in=element_in, source_id=source.id)
        if duplicate is not None:
            raise ImportFailed(
                f"near-duplicate of {duplicate[0].code!r} ({duplicate[2]}, {duplicate[1]:.0f}): "
                "register it through the API to open a dispute"
            )
        element = elements.create(session=session, element_in=element_in, actor=actor)
        report.elements_created += 1
    else:
        current = elements.source_code(session=session, element=element)
        if current != row.source:
            raise ImportFailed(f"the source of {row.code!r} is {current!r}: a change of source is a handover")
        if element.status != row.status:
            raise ImportFailed(f"status {element.status} -> {row.status}: use the status workflow")
        before = element.version
        changes = row.model_dump(include=set(ElementUpdate.model_fields) - {"reason"})
        if "grade_basis" not in row.model_fields_set:
            # A row that says nothing of it (a file from before the column, an empty cell) keeps the
            # recorded reason: a grade is never left without one by an import.
            del changes["grade_basis"]
        elements.update(
            session=session,
            element=element,
            element_in=ElementUpdate(**changes, reason="import"),
            actor=actor,
        )
        report.elements_updated += element.version != before
    for alias_in in row.aliases:
        existing = aliases.find(
            session=session,
            scope_type=alias_in.scope_type,
            scope=alias_in.scope,
            local_code=alias_in.local_code,
        )
        if existing is None:
            aliases.create(session=session, element=element, alias_in=alias_in, actor=actor)
            report.aliases_added += 1
        elif existing.element_id != element.id:
            raise ImportFailed(
                f"alias {alias_in.scope}:{alias_in.local_code} already resolves to another element"
            )


def _item_row(session: Session, raw: dict[str, Any], actor: Actor, report: ImportReport) -> None:
    item_in = ServiceItemCreate.model_validate(raw)
    item = service_items.get_by_code(session=session, code=item_in.code)
    if item is None:
        service_items.create(session=session, item_in=item_in, actor=actor)
        report.items_created += 1
    else:
        service_items.replace(session=session, item=item, item_in=item_in, actor=actor)
        report.items_replaced += 1


def _csv_item_row(session: Session, raw: dict[str, Any], actor: Actor, report: ImportReport) -> None:
    """A service_items.csv item: what the CSV cannot say (participants, subject roles, bundle steps, a
    material's role) is kept from the item as it is, never dropped by a round trip through a spreadsheet."""
    item = service_items.get_by_code(session=session, code=str(raw.get("code", "")))
    if item is not None:
        current = service_items.to_read(session=session, item=item)
        roles = {m.name: m.subject_role for m in current.materials}
        raw = raw | {
            "participants": current.participants,
            "subjects": [r.model_dump() for r in current.subjects],
            "steps": [st.model_dump() for st in current.steps],
            "materials": [m | {"subject_role": roles.get(m.get("name"))} for m in raw.get("materials", [])],
        }
    _item_row(session, raw, actor, report)


def export_document(*, session: Session) -> dict[str, Any]:
    """The whole catalogue as one JSON document (the import format)."""
    alias_rows: dict[int, list[dict[str, str]]] = {}
    for alias in session.exec(select(ElementAlias).order_by(col(ElementAlias.id))):
        alias_rows.setdefault(alias.element_id, []).append(
            AliasCreate.model_validate(alias, from_attributes=True).model_dump()
        )
    element_docs = []
    for element in session.exec(select(DataElement).order_by(col(DataElement.code))):
        read = elements.to_read(session=session, element=element)
        doc = read.model_dump(mode="json", include=set(ELEMENT_COLUMNS) - {"aliases"})
        assert element.id is not None, "an element read from the database has an id"
        element_docs.append(doc | {"aliases": alias_rows.get(element.id, [])})
    items = [
        service_items.to_read(session=session, item=item).model_dump(mode="json", exclude={"created_at"})
        for item in session.exec(select(ServiceItem).order_by(col(ServiceItem.code)))
    ]
    return {"elements": element_docs, "service_items": items}


def export_csv(*, session: Session) -> tuple[str, str]:
    """The catalogue as (elements.csv, service_items.csv)."""
    doc = export_document(session=session)
    element_records = [
        e
        | {
            "value_schema": json.dumps(e["value_schema"], ensure_ascii=False)
            if e["value_schema"] is not None
            else "",
            "aliases": ";".join(
                f"{a['scope_type']}:{a['scope']}:{a['local_code']}:{a['local_name']}" for a in e["aliases"]
            ),
        }
        for e in doc["elements"]
    ]
    item_records = []
    for item in doc["service_items"]:
        base = {
            "item_code": item["code"],
            "item_name": item["name"],
            "handling_department": item["handling_department"],
        }
        for material in item["materials"] or [{"name": "", "elements": []}]:
            item_records.append(
                base | {"material": material["name"], "elements": " ".join(material["elements"])}
            )
    return to_csv(ELEMENT_COLUMNS, element_records), to_csv(ITEM_COLUMNS, item_records)

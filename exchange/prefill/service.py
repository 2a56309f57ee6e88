"""Prefill (一件事一次办): one call asks every source at once for the materials the caller may read.

Each (role, source) pair is one ordinary query `<prefill_id>.<role index>.<source>` run by
QueryService: the same authorisation per element (the per-step purpose rule of registry/policy.py),
consent, audit, encryption to the consumer and idempotency as POST /v1/queries. Nothing here decides
what may be released; it only chooses what to ask and puts the answers back into materials.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exchange.authz.engine import client_reason
from exchange.prefill.models import (
    MaterialStatus,
    PrefillElement,
    PrefillIn,
    PrefillMaterial,
    PrefillOut,
    PrefillQuery,
)
from exchange.queries.models import PurposeIn, QueryIn, QueryOut, SubjectIn
from exchange.queries.service import QueryService
from protocol.errors import Denied, InvalidRequest, NotFound, ShuyuanError
from protocol.identifiers import InvalidSubjectId, normalise_subject_id
from protocol.reasons import Reason
from registry import policy
from registry.catalogue import Catalogue, ItemView, MaterialView


@dataclass
class _Ask:
    """One query of the fan-out: a role's elements of one source."""

    query_id: str
    role: str
    role_index: int
    source: str
    elements: list[str] = field(default_factory=list)


def query_id(prefill_id: str, role_index: int, source: str) -> str:
    """The query id of a role's elements of one source."""
    return f"{prefill_id}.{role_index}.{source}"


def readable_materials(catalogue: Catalogue, item: ItemView, consumer: str) -> list[MaterialView]:
    """The item's materials the consumer may read, in the item's order (the rule: registry/policy.py)."""
    users = catalogue.item_departments.get(item.code, frozenset())
    return [m for m in item.materials if policy.may_read_material(item, m, consumer, users)]


def plan(catalogue: Catalogue, item: ItemView, materials: list[MaterialView], prefill_id: str) -> list[_Ask]:
    """One query per (role, source) over the readable materials' elements, in a stable order."""
    index = {r.role: i for i, r in enumerate(item.roles)}
    asks: dict[tuple[int, str], _Ask] = {}
    for material in materials:
        for code in material.elements:
            view = catalogue.elements.get(code)
            if view is None:  # not in the catalogue now: nobody to ask (the query would deny it anyway)
                continue
            i = index[material.subject_role]
            ask = asks.setdefault(
                (i, view.source),
                _Ask(query_id(prefill_id, i, view.source), material.subject_role, i, view.source),
            )
            if code not in ask.elements:
                ask.elements.append(code)
    return [asks[k] for k in sorted(asks)]


async def prefill(
    service: QueryService,
    *,
    consumer: str,
    system: str | None,
    item_code: str,
    body: PrefillIn,
    take_tokens: Callable[[int], None],
) -> PrefillOut:
    """Answer a prefill for this consumer; `take_tokens(n)` charges the n queries to its rate limit."""
    catalogue = await service.catalogue()
    refused = client_reason(catalogue, consumer)
    if refused is not None:
        raise Denied(f"department {consumer[:32]!r} may not query", reason=refused)
    item = catalogue.items.get(item_code)
    if item is None:
        raise NotFound(f"no service item with code {item_code[:64]!r}")
    subjects = _checked_subjects(item, body)
    if consumer not in catalogue.item_departments.get(item.code, frozenset()):
        # Purpose binds the department (DESIGN.md §6, issue 12): a department that neither handles nor
        # takes part in the item gets nothing; the refusal is on the chain for each subject named.
        for subject in subjects.values():
            await service.audit_refusal(
                consumer=consumer,
                system=system,
                query=_query(body, item_code, body.prefill_id, subject, _item_elements(item), checked=False),
                reason=Reason.NOT_PARTICIPANT,
            )
        raise Denied(
            f"department {consumer[:32]!r} neither handles nor takes part in service item {item_code!r}",
            reason=Reason.NOT_PARTICIPANT,
            audited=True,
        )
    materials = readable_materials(catalogue, item, consumer)
    missing = sorted({m.subject_role for m in materials} - set(subjects))
    if missing:
        raise InvalidRequest(
            f"no subject for role(s) {', '.join(missing)} (materials the caller may read are theirs)",
            reason=Reason.MISSING_SUBJECT,
        )
    asks = plan(catalogue, item, materials, body.prefill_id)
    # One prefill is as many queries as it fans out to: each is charged to the caller's rate limit
    # (the request itself paid for one), so a prefill is no way around the limit (docs/security.md).
    take_tokens(max(0, len(asks) - 1))
    queries = [_query(body, item_code, a.query_id, subjects[a.role], a.elements) for a in asks]
    answers = await asyncio.gather(*(_run(service, consumer, system, q) for q in queries))
    for answer in answers:
        # The retry semantics of these are the query's (docs/api.md "Retrying"): the caller retries the
        # same prefill, which replays what was released.
        if isinstance(answer, ShuyuanError) and _refuses_the_prefill(answer):
            raise answer
    return _assemble(body, item_code, materials, asks, answers)


def _item_elements(item: ItemView) -> list[str]:
    return list(dict.fromkeys(code for m in item.materials for code in m.elements))


def _checked_subjects(item: ItemView, body: PrefillIn) -> dict[str, SubjectIn]:
    """The body's subjects, each for a role of the item, of the role's type, with a valid identifier."""
    roles = {r.role: r for r in item.roles}
    checked: dict[str, SubjectIn] = {}
    for role, subject in body.subjects.items():
        if role not in roles:
            raise InvalidRequest(
                f"service item {item.code!r} has no subject role {role!r} ({', '.join(roles)})",
                reason=Reason.UNKNOWN_SUBJECT_ROLE,
            )
        if subject.type != roles[role].subject_type:
            # As a query for an element of another subject type (DESIGN.md §6): the request is wrong.
            raise InvalidRequest(f"role {role!r} is a {roles[role].subject_type}, not a {subject.type}")
        try:
            normalise_subject_id(subject.type, subject.id)
        except InvalidSubjectId as exc:
            raise InvalidRequest(f"role {role!r}: {exc.detail}", reason=Reason.INVALID_SUBJECT_ID) from exc
        checked[role] = subject
    return checked


def _query(
    body: PrefillIn,
    item_code: str,
    qid: str,
    subject: SubjectIn,
    elements: list[str],
    *,
    checked: bool = True,
) -> QueryIn:
    fields = {
        "query_id": qid,
        "subject": subject,
        "elements": elements,
        "purpose": PurposeIn(service_item=item_code, case_no=body.case_no),
        "on_behalf_of": body.on_behalf_of,
        # The prefill's freshness was checked on arrival (api.py), as for a bulk query.
        "requested_at": datetime.now(UTC),
    }
    # An unchecked one only names a refusal on the audit chain (an item may have no element at all).
    return QueryIn.model_validate(fields) if checked else QueryIn.model_construct(None, **fields)  # type: ignore[arg-type]


async def _run(
    service: QueryService, consumer: str, system: str | None, query: QueryIn
) -> QueryOut | ShuyuanError:
    try:
        return await service.run(consumer=consumer, query=query, system=system)
    except ShuyuanError as exc:
        if not exc.audited and not _refuses_the_prefill(exc):
            # Its elements are answered `denied` inside the prefill, so no problem handler sees this
            # refusal: it goes on the chain here (every refusal is audited, DESIGN.md §2.4).
            await service.audit_refusal(consumer=consumer, system=system, query=query, reason=exc.reason)
        return exc


def _refuses_the_prefill(exc: ShuyuanError) -> bool:
    """A refusal of one fanned-out query that refuses the whole prefill (the problem handler audits it):
    the audit or database path is down, or the query_id is taken (docs/api.md, "Retrying")."""
    return exc.status >= 500 or exc.status == 409


def _assemble(
    body: PrefillIn,
    item_code: str,
    materials: list[MaterialView],
    asks: list[_Ask],
    answers: list[QueryOut | ShuyuanError],
) -> PrefillOut:
    results: dict[tuple[str, str], PrefillElement] = {}
    queries: list[PrefillQuery] = []
    for ask, answer in zip(asks, answers, strict=True):
        refused = answer.reason.value if isinstance(answer, ShuyuanError) else None
        queries.append(
            PrefillQuery(
                query_id=ask.query_id,
                subject_role=ask.role,
                source=ask.source,
                elements=ask.elements,
                refused=refused,
            )
        )
        if isinstance(answer, QueryOut):
            for r in answer.results:
                results[(ask.role, r.code)] = PrefillElement(**r.model_dump(), query_id=ask.query_id)
        else:
            for code in ask.elements:
                results[(ask.role, code)] = PrefillElement(
                    code=code, status="denied", reason=refused, source=ask.source, query_id=ask.query_id
                )
    out: list[PrefillMaterial] = []
    for m in materials:
        elements = [
            results.get((m.subject_role, code))
            or PrefillElement(code=code, status="denied", reason=Reason.UNKNOWN_ELEMENT.value)
            for code in m.elements
        ]
        out.append(
            PrefillMaterial(
                name=m.name,
                subject_role=m.subject_role,
                step=m.step,
                status=_status(elements),
                elements=elements,
            )
        )
    to_bring = [m.name for m in out if m.status != "supplied"]
    return PrefillOut(
        prefill_id=body.prefill_id,
        service_item=item_code,
        status="partial" if to_bring else "complete",
        materials=out,
        to_bring=to_bring,
        queries=queries,
    )


def _status(elements: list[PrefillElement]) -> MaterialStatus:
    ok = sum(e.status == "ok" for e in elements)
    if elements and ok == len(elements):
        return "supplied"
    return "partly" if ok else "must_bring"

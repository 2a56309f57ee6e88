"""The query flow: validate, decide per element, ask each source once, audit, release."""

import asyncio
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import rfc8785
from sqlalchemy import Engine, select

from exchange.audit.writer import AuditWriter
from exchange.authz.engine import Decision, client_reason, decide
from exchange.catalogue_cache import CatalogueCache
from exchange.crypto import PlatformKeys
from exchange.queries.models import ElementResult, QueryIn, QueryOut, QueryRecord
from exchange.transport.base import SourceTimeout, Transport
from protocol.envelope import SourceReply, SourceRequest, Subject
from protocol.errors import Conflict, Denied, InvalidRequest, Unauthenticated
from protocol.identifiers import InvalidSubjectId, normalise_subject_id
from protocol.reasons import Reason

_OPTIONAL_COLUMNS = ("decision", "reason", "source", "response_digest")


@dataclass
class QueryContext:
    """What every audit row of one query shares."""

    gateway: str
    consumer: str
    query: QueryIn
    subject_index: str

    def row(self, action: str, **fields: Any) -> dict[str, Any]:
        """An audit row for one step of this query."""
        return {
            "gateway": self.gateway,
            "actor": self.consumer,
            "action": action,
            "subject_index": self.subject_index,
            "service_item": self.query.purpose.service_item,
            "case_no": self.query.purpose.case_no,
            "query_id": self.query.query_id,
            "elements": json.dumps(fields.pop("elements", []), ensure_ascii=False),
            # Every row carries every column: the writer inserts a batch as one executemany, which
            # takes its columns from the first row and would silently drop keys only later rows have.
            **dict.fromkeys(_OPTIONAL_COLUMNS),
            **fields,
        }


class QueryService:
    """Brokers queries; one instance per gateway process."""

    def __init__(
        self,
        *,
        engine: Engine,
        catalogue: CatalogueCache,
        transport: Transport,
        writer: AuditWriter,
        keys: PlatformKeys,
        gateway_id: str,
        source_timeout_s: float,
        max_elements: int,
    ) -> None:
        self._engine = engine
        self._catalogue = catalogue
        self._transport = transport
        self._writer = writer
        self._keys = keys
        self._gateway_id = gateway_id
        self._timeout = source_timeout_s
        self._max_elements = max_elements

    async def run(self, *, consumer: str, query: QueryIn) -> QueryOut:
        """Answer a query for this consumer, each element decided and audited."""
        if len(query.elements) > self._max_elements:
            raise InvalidRequest(f"at most {self._max_elements} elements per query")
        if len(set(query.elements)) != len(query.elements):
            raise InvalidRequest("an element is named twice")
        try:
            subject_id = normalise_subject_id(query.subject.type, query.subject.id)
        except InvalidSubjectId as exc:
            raise InvalidRequest(exc.detail, reason=Reason.INVALID_SUBJECT_ID) from exc
        ctx = QueryContext(
            self._gateway_id, consumer, query, self._keys.blind_index(query.subject.type, subject_id)
        )
        digest = _request_digest(consumer, query, subject_id)

        # The client check comes before the replay: a disabled department gets nothing, not even a
        # stored answer (fail closed, DESIGN.md §2.4).
        catalogue = await self._catalogue.current()
        refused = client_reason(catalogue, consumer)
        if refused is not None:
            await self._writer.write(
                [ctx.row("query.refused", elements=query.elements, decision="deny", reason=refused)]
            )
            raise (Unauthenticated if refused == Reason.UNAUTHENTICATED else Denied)(
                f"department {consumer[:32]!r} may not query", reason=refused
            )

        replay = await self._replay(consumer, query.query_id, digest)
        if replay is not None:
            await self._writer.write(
                [ctx.row("query.replayed", elements=query.elements, response_digest=replay[1])]
            )
            return replay[0]

        decisions = [
            decide(
                catalogue,
                consumer=consumer,
                element_code=code,
                service_item=query.purpose.service_item,
                subject_type=query.subject.type,
            )
            for code in query.elements
        ]
        rows = [ctx.row("query.received", elements=query.elements)]
        rows += [
            ctx.row(
                "element.decided",
                elements=[d.element],
                decision=d.label,
                reason=d.reason.value if d.reason else None,
                source=d.source,
            )
            for d in decisions
        ]
        answers, dispatch_rows = await self._ask_sources(
            ctx, Subject(type=query.subject.type, id=subject_id), decisions
        )
        out = _assemble(query, decisions, answers)
        body = out.model_dump_json().encode()
        response_digest = hashlib.sha256(body).hexdigest()
        rows += dispatch_rows
        rows.append(ctx.row("query.released", elements=query.elements, response_digest=response_digest))
        record = {
            "consumer": consumer,
            "query_id": query.query_id,
            "request_digest": digest,
            "response_sealed": self._keys.seal(body, context=_seal_context(consumer, query.query_id)),
        }
        await self._writer.write(rows, record)  # raises AuditUnavailable: nothing is released
        return out

    async def _replay(self, consumer: str, query_id: str, digest: str) -> tuple[QueryOut, str] | None:
        row = await asyncio.to_thread(self._find_record, consumer, query_id)
        if row is None:
            return None
        if row.request_digest != digest:
            raise Conflict(f"query_id {query_id!r} was already used for a different query")
        body = self._keys.unseal(row.response_sealed, context=_seal_context(consumer, query_id))
        return QueryOut.model_validate_json(body), hashlib.sha256(body).hexdigest()

    def _find_record(self, consumer: str, query_id: str) -> Any:
        with self._engine.connect() as conn:
            stmt = select(QueryRecord.request_digest, QueryRecord.response_sealed).where(  # type: ignore[call-overload]
                QueryRecord.consumer == consumer, QueryRecord.query_id == query_id
            )
            return conn.execute(stmt).first()

    async def _ask_sources(
        self, ctx: QueryContext, subject: Subject, decisions: list[Decision]
    ) -> tuple[dict[str, ElementResult], list[dict[str, Any]]]:
        by_source: dict[str, list[str]] = defaultdict(list)
        for d in decisions:
            if d.allowed and d.source is not None:
                by_source[d.source].append(d.element)
        requests = [
            SourceRequest(
                query_id=ctx.query.query_id,
                consumer=ctx.consumer,
                source=source,
                subject=subject,
                elements=codes,
                service_item=ctx.query.purpose.service_item,
                case_no=ctx.query.purpose.case_no,
            )
            for source, codes in by_source.items()
        ]
        key = ctx.subject_index.encode()
        outcomes = await asyncio.gather(
            *(self._transport.request(r, timeout=self._timeout, key=key) for r in requests),
            return_exceptions=True,
        )
        results: dict[str, ElementResult] = {}
        rows: list[dict[str, Any]] = []
        for req, outcome in zip(requests, outcomes, strict=True):
            rows.append(ctx.row("source.dispatched", elements=req.elements, source=req.source))
            if isinstance(outcome, SourceReply):
                results |= _answers(req, outcome)
                rows.append(ctx.row("source.answered", elements=req.elements, source=req.source))
                continue
            if not isinstance(outcome, Exception):
                raise outcome  # cancellation and the like must propagate
            # Any other failure of one source costs only that source's elements, never the whole query.
            reason = (
                Reason.SOURCE_TIMEOUT if isinstance(outcome, SourceTimeout) else Reason.SOURCE_UNAVAILABLE
            )
            action = "source.timed_out" if reason == Reason.SOURCE_TIMEOUT else "source.failed"
            rows.append(ctx.row(action, elements=req.elements, source=req.source, reason=reason.value))
            for code in req.elements:
                results[code] = ElementResult(
                    code=code, status="unavailable", reason=reason.value, source=req.source
                )
        return results, rows


def _answers(req: SourceRequest, reply: SourceReply) -> dict[str, ElementResult]:
    asked = set(req.elements)
    got = {a.code: a for a in reply.answers if a.code in asked}  # never pass on what was not asked
    results = {}
    for code in req.elements:
        answer = got.get(code)
        if answer is None or answer.status == "failed":
            results[code] = ElementResult(
                code=code, status="unavailable", reason=Reason.SOURCE_UNAVAILABLE.value, source=req.source
            )
        elif answer.status == "not_found":
            results[code] = ElementResult(
                code=code, status="not_found", reason=Reason.NOT_FOUND.value, source=req.source
            )
        else:
            results[code] = ElementResult(code=code, status="ok", source=req.source, value=answer.value)
    return results


def _assemble(query: QueryIn, decisions: list[Decision], answers: dict[str, ElementResult]) -> QueryOut:
    results = [
        answers[d.element]
        if d.allowed
        else ElementResult(
            code=d.element, status="denied", reason=d.reason.value if d.reason else None, source=d.source
        )
        for d in decisions
    ]
    complete = all(r.status == "ok" for r in results)
    return QueryOut(query_id=query.query_id, status="complete" if complete else "partial", results=results)


def _request_digest(consumer: str, query: QueryIn, subject_id: str) -> str:
    body = query.model_dump()
    body["subject"]["id"] = subject_id
    return hashlib.sha256(rfc8785.dumps({"consumer": consumer, "query": body})).hexdigest()


def _seal_context(consumer: str, query_id: str) -> bytes:
    return f"query_record:{consumer}:{query_id}".encode()

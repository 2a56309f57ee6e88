"""The query flow: validate, decide per element, ask each source once, audit, release."""

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from sqlalchemy import Engine

from exchange.audit import records
from exchange.audit.events import AuditAction, AuditDecision, AuditRecord
from exchange.audit.publisher import AuditPublisher
from exchange.audit.writer import AuditWriter
from exchange.authz.engine import Decision, client_reason, decide
from exchange.catalogue_cache import CatalogueCache
from exchange.consent.gate import ConsentGate
from exchange.crypto import PlatformKeys
from exchange.queries.flags import Disputes, flagged
from exchange.queries.idempotency import DEFAULT_RECORD_TTL_S, QueryRecords, seal_context
from exchange.queries.models import ElementResult, QueryIn, QueryOut, idempotency_record
from exchange.queries.replies import SignedReplyCheck, element_results
from exchange.request_signing import RequestSigner
from exchange.transport.base import SourceTimeout, Transport
from protocol.clock import utcnow
from protocol.envelope import SourceReply, SourceRequest
from protocol.errors import Denied, InvalidRequest, Unauthenticated
from protocol.identifiers import InvalidSubjectId, normalise_subject_id
from protocol.jose import seal_subject
from protocol.reasons import Reason
from registry.catalogue import Catalogue
from registry.keys.directory import KeyDirectory


@dataclass
class QueryContext:
    """What every audit record of one query shares."""

    gateway: str
    consumer: str
    query: QueryIn
    subject_index: str
    system: str | None = None  # the calling system's client_id, from its access token

    def record(
        self,
        action: AuditAction,
        *,
        elements: Sequence[str],
        decision: AuditDecision | None = None,
        reason: str | None = None,
        source: str | None = None,
        response_digest: str | None = None,
    ) -> AuditRecord:
        """The audit record of one step of this query."""
        return records.query_step(
            action,
            gateway=self.gateway,
            department=self.consumer,
            system=self.system,
            user=self.query.on_behalf_of,
            subject_index=self.subject_index,
            service_item=self.query.purpose.service_item,
            case_no=self.query.purpose.case_no,
            request_id=self.query.query_id,
            elements=elements,
            decision=decision,
            reason=reason,
            source=source,
            response_digest=response_digest,
        )


class QueryService:
    """Brokers queries; one instance per gateway process."""

    def __init__(
        self,
        *,
        engine: Engine,
        catalogue: CatalogueCache,
        transport: Transport,
        writer: AuditWriter | AuditPublisher,
        keys: PlatformKeys,
        key_directory: KeyDirectory,
        request_signer: RequestSigner,
        gateway_id: str,
        source_timeout_s: float,
        max_elements: int,
        max_skew_s: float = 300.0,
        record_ttl_s: float = DEFAULT_RECORD_TTL_S,
        disputes: Disputes | None = None,
        consent: ConsentGate | None = None,
    ) -> None:
        self._engine = engine
        self._catalogue = catalogue
        self._transport = transport
        self._writer = writer
        self._keys = keys
        self._key_directory = key_directory
        self._signer = request_signer
        self._gateway_id = gateway_id
        self._timeout = source_timeout_s
        self._max_elements = max_elements
        self._max_skew_s = max_skew_s
        self._records = QueryRecords(engine, keys, record_ttl_s=record_ttl_s)
        self._disputes = disputes
        self._consent = consent  # None: no element waits for consent (tests of the plain path)

    async def run(
        self, *, consumer: str, query: QueryIn, system: str | None = None, slow_sources: bool = False
    ) -> QueryOut:
        """Answer a query for this consumer, sent by its client `system`; each element decided and audited.

        `slow_sources` (the background run of an async query): each source is waited for up to its own
        answer deadline in the registry, when longer than the sync source timeout.
        """
        skew = abs((datetime.now(UTC) - query.requested_at).total_seconds())
        if skew > self._max_skew_s:
            # Freshness window: a captured request cannot be replayed later (docs/security.md).
            raise InvalidRequest(f"requested_at is {skew:.0f} s away from the gateway clock")
        if len(query.elements) > self._max_elements:
            raise InvalidRequest(f"at most {self._max_elements} elements per query")
        if len(set(query.elements)) != len(query.elements):
            raise InvalidRequest("an element is named twice")
        try:
            subject_id = normalise_subject_id(query.subject.type, query.subject.id)
        except InvalidSubjectId as exc:
            raise InvalidRequest(exc.detail, reason=Reason.INVALID_SUBJECT_ID) from exc
        ctx = QueryContext(
            self._gateway_id, consumer, query, self._keys.blind_index(query.subject.type, subject_id), system
        )
        digest = request_digest(consumer, query, subject_id)

        # The client check comes before the replay: a disabled department gets nothing, not even a
        # stored answer (fail closed, DESIGN.md §2.4).
        catalogue = await self._catalogue.current()
        refused = client_reason(catalogue, consumer)
        if refused is not None:
            await self._writer.write(
                [
                    ctx.record(
                        AuditAction.QUERY_REFUSED, elements=query.elements, decision="deny", reason=refused
                    )
                ]
            )
            # Audited just above: not again (auth/denials.py).
            raise (Unauthenticated if refused == Reason.UNAUTHENTICATED else Denied)(
                f"department {consumer[:32]!r} may not query", reason=refused, audited=True
            )

        await self._records.maybe_purge()
        # The query_id is claimed before anything is asked: a second request with it gets the stored
        # answer, or `409 query_in_progress`, never a second run and a second release.
        replay = await self._records.claim(consumer, query.query_id, digest)
        if replay is not None:
            stored, stored_digest = replay
            await self._recheck_replay(ctx, catalogue, stored)
            await self._writer.write(
                [
                    ctx.record(
                        AuditAction.QUERY_REPLAYED, elements=query.elements, response_digest=stored_digest
                    )
                ]
            )
            return await flagged(stored, self._disputes, ctx.subject_index)  # as it stands now, not as stored

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
        hold = None
        if self._consent is not None:  # 单独同意: those elements wait, not asked of their source
            decisions, hold = await self._consent.hold(
                catalogue,
                decisions,
                consumer=consumer,
                system=system,
                query=query,
                subject_id=subject_id,
                subject_index=ctx.subject_index,
                now=datetime.now(UTC),
            )
        steps = [ctx.record(AuditAction.QUERY_RECEIVED, elements=query.elements)]
        steps += [
            ctx.record(
                AuditAction.ELEMENT_DECIDED,
                elements=[d.element],
                decision="allow" if d.allowed else "deny",
                reason=d.reason.value if d.reason else None,
                source=d.source,
            )
            for d in decisions
        ]
        schemas = {
            d.element: view.value_schema
            for d in decisions
            if d.allowed and (view := catalogue.elements.get(d.element)) is not None and view.value_schema
        }
        try:
            # Write-ahead: the dispatch to each source is on the audit path before the request leaves.
            deadlines = catalogue.deadlines if slow_sources else {}
            answers, later = await self._ask_sources(
                ctx, subject_id, decisions, schemas, ahead=steps, deadlines=deadlines
            )
        except BaseException:
            # Nothing was released: the query_id is free again for a retry (the audit keeps the attempt).
            await self._records.unclaim(consumer, query.query_id)
            raise
        out = _assemble(query, decisions, answers, consent_id=hold.consent_id if hold else None)
        body = out.model_dump_json().encode()
        response_digest = hashlib.sha256(body).hexdigest()
        steps = [
            *later,
            *([hold.record] if hold else []),
            ctx.record(AuditAction.QUERY_RELEASED, elements=query.elements, response_digest=response_digest),
        ]
        idempotency = idempotency_record(
            consumer=consumer,
            query_id=query.query_id,
            request_digest=digest,
            response_sealed=self._keys.seal(body, context=seal_context(consumer, query.query_id)),
        )
        # The release record and the completion of the claim: one transaction (embedded), or the
        # events acknowledged and then the record committed (Kafka); raises AuditUnavailable: nothing
        # is released. The claim is then kept: the release may have been published, so the same
        # query_id must not run again (docs/api.md, "Retrying").
        await self._writer.write(steps, [idempotency, hold.row] if hold else idempotency)
        return await flagged(out, self._disputes, ctx.subject_index)

    async def _recheck_replay(self, ctx: QueryContext, catalogue: Catalogue, stored: QueryOut) -> None:
        """Refuse a replay whose stored answer the consumer may no longer receive (docs/security.md).

        Every element the stored answer did not deny was allowed when it was answered; each is decided
        again under the current catalogue (an agreement revoked or lapsed, a purpose the department no
        longer takes part in, a retired element ...). If any is now refused, nothing is replayed: the
        stored answer is one signed whole, and changing it would give one query_id two answers.
        """
        again = [
            decide(
                catalogue,
                consumer=ctx.consumer,
                element_code=r.code,
                service_item=ctx.query.purpose.service_item,
                subject_type=ctx.query.subject.type,
            )
            for r in stored.results
            if r.status != "denied"
        ]
        refused = [d for d in again if not d.allowed]
        if not refused:
            return
        reason = refused[0].reason or Reason.NOT_NECESSARY_FOR_PURPOSE
        await self._writer.write(
            [
                ctx.record(
                    AuditAction.QUERY_REFUSED,
                    elements=[d.element for d in refused],
                    decision="deny",
                    reason=reason.value,
                )
            ]
        )
        raise Denied(  # audited just above: not again (auth/denials.py)
            f"query_id {ctx.query.query_id!r}: the stored answer holds elements the consumer may no "
            f"longer receive ({', '.join(d.element for d in refused)[:200]}); send a new query",
            reason=reason,
            audited=True,
        )

    async def audit_refusal(
        self, *, consumer: str, system: str | None, query: QueryIn, reason: Reason
    ) -> None:
        """Write the `query.refused` record of a request refused before any element was decided (e.g. a
        prefill by a department that takes no part in the item): who, about whom, for what, and why."""
        subject_id = normalise_subject_id(query.subject.type, query.subject.id)
        ctx = QueryContext(
            self._gateway_id, consumer, query, self._keys.blind_index(query.subject.type, subject_id), system
        )
        await self._writer.write(
            [
                ctx.record(
                    AuditAction.QUERY_REFUSED, elements=query.elements, decision="deny", reason=reason.value
                )
            ]
        )

    def needs_async(self, catalogue: Catalogue, query: QueryIn) -> bool:
        """Whether a source of the query has an answer deadline beyond the sync timeout (docs/api.md)."""
        sources = {v.source for code in query.elements if (v := catalogue.elements.get(code)) is not None}
        return any(catalogue.deadlines.get(s, 0.0) > self._timeout for s in sources)

    async def catalogue(self) -> Catalogue:
        """The gateway's current view of the registry."""
        return await self._catalogue.current()

    async def purge_expired(self) -> int:
        """Delete the idempotency records older than the TTL; returns how many were deleted."""
        return await self._records.purge_expired()

    async def _ask_sources(
        self,
        ctx: QueryContext,
        subject_id: str,
        decisions: list[Decision],
        schemas: dict[str, dict[str, Any]],
        *,
        ahead: list[AuditRecord],
        deadlines: dict[str, float] | None = None,
    ) -> tuple[dict[str, ElementResult], list[AuditRecord]]:
        """Ask each source once; the results, and the audit records still to write with the release.

        `ahead` (the query's records so far) and one `source.dispatched` per source are written
        before any request leaves: a gateway that dies mid-query leaves the chain saying whom it asked.
        """
        by_source: dict[str, list[str]] = defaultdict(list)
        for d in decisions:
            if d.allowed and d.source is not None:
                by_source[d.source].append(d.element)
        if not by_source:
            return {}, ahead
        keys = await self._key_directory.current()
        consumer_key = keys.current(ctx.consumer, "enc")
        if consumer_key is None:
            # Answers are encrypted to the consumer (DESIGN.md §8): without a key nothing can be released.
            reason = Reason.INVALID_REQUEST
            await self._writer.write(
                [
                    ctx.record(
                        AuditAction.QUERY_REFUSED,
                        elements=ctx.query.elements,
                        decision="deny",
                        reason=reason.value,
                    )
                ]
            )
            raise InvalidRequest(  # audited just above: not again (auth/denials.py)
                f"department {ctx.consumer!r} has no valid encryption key in the registry",
                reason=reason,
                audited=True,
            )
        consumer_kid = consumer_key[0]
        results: dict[str, ElementResult] = {}
        steps: list[AuditRecord] = []
        requests = []
        waits = {s: max(self._timeout, (deadlines or {}).get(s, 0.0)) for s in by_source}
        now = utcnow()
        reply_to = self._transport.reply_address
        for source, codes in by_source.items():
            source_key = keys.current(source, "enc")
            if source_key is None:
                # A source without a valid encryption key cannot be asked without exposing the subject.
                steps.append(
                    ctx.record(
                        AuditAction.SOURCE_FAILED,
                        elements=codes,
                        source=source,
                        reason=Reason.SOURCE_UNAVAILABLE.value,
                    )
                )
                for code in codes:
                    results[code] = ElementResult(
                        code=code, status="unavailable", reason=Reason.SOURCE_UNAVAILABLE.value, source=source
                    )
                continue
            requests.append(
                SourceRequest(
                    query_id=ctx.query.query_id,
                    consumer=ctx.consumer,
                    source=source,
                    subject_type=ctx.query.subject.type,
                    subject_jwe=seal_subject(
                        subject_type=ctx.query.subject.type,
                        subject_id=subject_id,
                        query_id=ctx.query.query_id,
                        recipient=source_key[1],
                        kid=source_key[0],
                        profile=keys.profile,
                    ),
                    consumer_kid=consumer_kid,
                    elements=codes,
                    value_schemas={code: schemas[code] for code in codes if code in schemas},
                    service_item=ctx.query.purpose.service_item,
                    case_no=ctx.query.purpose.case_no,
                    expires_at=now + timedelta(seconds=waits[source]),
                    reply_to=reply_to,
                )
            )
        if not requests:
            return results, [*ahead, *steps]
        dispatched = [
            ctx.record(AuditAction.SOURCE_DISPATCHED, elements=r.elements, source=r.source) for r in requests
        ]
        await self._writer.write([*ahead, *steps, *dispatched])  # AuditUnavailable: nobody is asked
        steps = []
        key = ctx.subject_index.encode()
        checks = [SignedReplyCheck(r, keys) for r in requests]
        outcomes = await asyncio.gather(
            *(
                self._transport.request(
                    r, self._signer.sign(r), accept=check, timeout=waits[r.source], key=key
                )
                for r, check in zip(requests, checks, strict=True)
            ),
            return_exceptions=True,
        )
        for req, check, outcome in zip(requests, checks, outcomes, strict=True):
            # Replies that were not the asked source's signed reply to this request: dropped, audited.
            steps += [
                ctx.record(
                    AuditAction.ANSWER_REJECTED, elements=req.elements, source=req.source, reason=problem
                )
                for problem in check.refused
            ]
            if isinstance(outcome, SourceReply):
                answered, rejected = element_results(req, outcome, keys, consumer_kid)
                results |= answered
                steps.append(
                    ctx.record(AuditAction.SOURCE_ANSWERED, elements=req.elements, source=req.source)
                )
                steps += [
                    ctx.record(
                        AuditAction.ANSWER_REJECTED, elements=[code], source=req.source, reason=problem
                    )
                    for code, problem in rejected
                ]
                continue
            if not isinstance(outcome, Exception):
                raise outcome  # cancellation and the like must propagate
            # Any other failure of one source costs only that source's elements, never the whole query.
            # A source whose only replies were refused did answer, falsely: unavailable, not slow.
            timed_out = isinstance(outcome, SourceTimeout) and not check.refused
            reason = Reason.SOURCE_TIMEOUT if timed_out else Reason.SOURCE_UNAVAILABLE
            action = (
                AuditAction.SOURCE_TIMED_OUT if reason == Reason.SOURCE_TIMEOUT else AuditAction.SOURCE_FAILED
            )
            steps.append(ctx.record(action, elements=req.elements, source=req.source, reason=reason.value))
            for code in req.elements:
                results[code] = ElementResult(
                    code=code, status="unavailable", reason=reason.value, source=req.source
                )
        return results, steps


def _assemble(
    query: QueryIn, decisions: list[Decision], answers: dict[str, ElementResult], *, consent_id: str | None
) -> QueryOut:
    results = [
        answers[d.element]
        if d.allowed
        else ElementResult(
            code=d.element,
            status="pending_consent",
            reason=Reason.PENDING_CONSENT.value,
            source=d.source,
            consent_id=consent_id,
        )
        if d.reason == Reason.PENDING_CONSENT
        else ElementResult(
            code=d.element, status="denied", reason=d.reason.value if d.reason else None, source=d.source
        )
        for d in decisions
    ]
    complete = all(r.status == "ok" for r in results)
    return QueryOut(query_id=query.query_id, status="complete" if complete else "partial", results=results)


def request_digest(consumer: str, query: QueryIn, subject_id: str) -> str:
    """What a query asks, as a digest: the same query_id must always ask the same (idempotency)."""
    # A retry may carry a new time; where to call back is not part of what is asked.
    body = query.model_dump(exclude={"requested_at", "callback_url", "callback"})
    body["subject"]["id"] = subject_id
    return hashlib.sha256(rfc8785.dumps({"consumer": consumer, "query": body})).hexdigest()

"""The consent gate of the query path: elements that need the subject's consent and have none wait.

Called by QueryService after the policy decided every element: an allowed element marked
`consent_required` (registry/policy.py) without a valid consent of the subject to this department,
service item and case is not asked of its source; it is answered `pending_consent` with the id of a
consent request, which is stored with the query's release, its `consent.requested` record beside it.
"""

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine

from exchange.audit import records
from exchange.audit.events import AuditAction, AuditRecord
from exchange.audit.writer import IdempotentInsert
from exchange.authz.engine import Decision
from exchange.consent import service
from exchange.consent.settings import ConsentSettings
from exchange.crypto import PlatformKeys
from exchange.queries.models import QueryIn
from protocol.reasons import Reason
from registry.catalogue import Catalogue
from registry.policy import consent_required


def subject_context(consent_id: str) -> bytes:
    """The sealing context of a consent request's subject identifier."""
    return f"consent-subject:{consent_id}".encode()


@dataclass(frozen=True)
class ConsentHold:
    """What a query keeps back for consent: the request's id, its row and its record."""

    consent_id: str
    elements: list[str]
    row: IdempotentInsert
    record: AuditRecord


@dataclass(frozen=True)
class ConsentGate:
    """Holds back the elements that wait for consent (one per gateway, in the query service)."""

    engine: Engine
    keys: PlatformKeys
    settings: ConsentSettings
    gateway_id: str

    async def hold(
        self,
        catalogue: Catalogue,
        decisions: list[Decision],
        *,
        consumer: str,
        system: str | None,
        query: QueryIn,
        subject_id: str,
        subject_index: str,
        now: datetime,
    ) -> tuple[list[Decision], ConsentHold | None]:
        """The decisions with the waiting elements held back (`pending_consent`), and the hold."""
        needing = [d.element for d in decisions if d.allowed and consent_required(catalogue, d.element)]
        if not needing:
            return decisions, None
        purpose = query.purpose
        consented = await asyncio.to_thread(
            service.granted,
            engine=self.engine,
            consumer=consumer,
            subject_index=subject_index,
            service_item=purpose.service_item,
            case_no=purpose.case_no,
            now=now,
        )
        waiting = [e for e in needing if e not in consented]
        if not waiting:
            return decisions, None
        consent_id = service.new_id()
        row = service.request_row(
            consent_id=consent_id,
            consumer=consumer,
            system=system,
            on_behalf_of=query.on_behalf_of,
            subject_type=query.subject.type,
            subject_index=subject_index,
            subject_sealed=self.keys.seal(subject_id.encode(), context=subject_context(consent_id)),
            elements=waiting,
            service_item=purpose.service_item,
            case_no=purpose.case_no,
            query_id=query.query_id,
            now=now,
            settings=self.settings,
        )
        record = records.consent_step(
            AuditAction.CONSENT_REQUESTED,
            gateway=self.gateway_id,
            actor=consumer,
            system=system,
            consent_id=consent_id,
            consumer=consumer,
            elements=waiting,
            subject_index=subject_index,
            service_item=purpose.service_item,
            case_no=purpose.case_no,
        )
        held = [
            replace(d, allowed=False, reason=Reason.PENDING_CONSENT) if d.element in waiting else d
            for d in decisions
        ]
        return held, ConsentHold(consent_id, waiting, row, record)

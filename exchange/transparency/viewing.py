"""One citizen's view of the accesses to their data, audited: shared by the API and the citizen page."""

import asyncio
from typing import Any

from exchange.audit import records
from exchange.state import GatewayState
from exchange.transparency import service
from protocol.clock import utcnow

CITIZEN_ACTOR = "citizen"


async def view_accesses(
    state: GatewayState, *, subject_index: str, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of the subject's accesses (newest first) and the next cursor, once the view is audited."""
    shown, hidden, next_before = await asyncio.to_thread(
        service.accesses,
        engine=state.engine,
        subject_index=subject_index,
        now=utcnow(),
        limit=limit,
        before_seq=before,
        approval_after_days=state.transparency.settings.approval_after_days,
    )
    gateway = state.settings.gateway_id
    steps = [records.transparency_viewed(gateway=gateway, actor=CITIZEN_ACTOR, subject_index=subject_index)]
    steps += [
        records.transparency_hidden(
            gateway=gateway,
            actor=CITIZEN_ACTOR,
            subject_index=subject_index,
            request_id=h["query_id"],
            service_item=h["service_item"],
            case_no=h["case_no"],
            elements=h["elements"],
        )
        for h in hidden
    ]
    # Fail closed: a view (and each hiding in it) is shown only once its audit records are written.
    await state.audit_writer.write(steps)
    return shown, next_before

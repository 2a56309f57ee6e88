"""Registry and agreement changes on the audit chain: one `registry.<type>` record per committed change.

The registry announces each committed unit of work's events (registry/events.py); this listener turns
them into audit records. The change is already committed when it is announced, so the record follows
it (through the same writer, with its retry backlog) instead of gating it.
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from exchange.audit import records
from exchange.audit.events import AuditRecord
from registry.events import RegistryChanges, RegistryEvent

log = logging.getLogger(__name__)


def record_of(event: RegistryEvent, *, gateway: str) -> AuditRecord:
    """The audit record of one registry event (a console sign-in attempt names the user as actor)."""
    if event.entity == "console_user":
        return records.console_sign_in(gateway=gateway, username=event.code, outcome=event.type)
    return records.registry_change(
        gateway=gateway,
        event_type=event.type,
        entity=event.entity,
        code=event.code,
        department=event.actor_department,
        system=event.actor_system,
        user=event.actor_user,
    )


def records_of(events: Sequence[RegistryEvent], *, gateway: str) -> list[AuditRecord]:
    """The audit records of registry events; an event no record can be built of is logged, not raised
    (its change is already committed: failing the request would not undo it)."""
    built = []
    for e in events:
        try:
            built.append(record_of(e, gateway=gateway))
        except (ValidationError, ValueError):
            log.exception("registry event %s %s:%s cannot be audited", e.type, e.entity, e.code)
    return built


def audit_registry_changes(changes: RegistryChanges, writer: Any, *, gateway: str) -> None:
    """Record every registry change this process commits."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()  # keep a reference, or a task may be collected mid-write

    def _write(built: list[AuditRecord]) -> None:
        async def _go() -> None:
            try:
                await writer.write(built)
            except Exception:
                log.exception("could not audit %d registry change(s); kept for retry", len(built))

        task = loop.create_task(_go())
        pending.add(task)
        task.add_done_callback(pending.discard)

    def listener(events: Sequence[RegistryEvent]) -> None:
        built = records_of(events, gateway=gateway)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _write(built)
        else:  # announced from a worker thread (sync endpoints and console pages)
            loop.call_soon_threadsafe(_write, built)

    changes.subscribe_events(listener)

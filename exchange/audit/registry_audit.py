"""Registry and agreement changes on the audit chain: one `registry.<type>` record per committed change.

The registry announces each committed unit of work's events (registry/events.py); this listener turns
them into audit records. The change is already committed when it is announced, so the record follows
it (through the same writer, with its retry backlog) instead of gating it.
"""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from registry.events import RegistryChanges, RegistryEvent

log = logging.getLogger(__name__)


def rows_of(events: Sequence[RegistryEvent], *, gateway: str) -> list[dict[str, Any]]:
    """The audit rows of registry events (the element code, or the entity and its code, as subject of it)."""
    rows = []
    for e in events:
        if e.entity == "console_user":  # a console sign-in attempt: the user is the actor
            rows.append(
                {
                    "gateway": gateway,
                    "actor": None,
                    "actor_user": e.code[:64],
                    "action": e.type[:32],
                    "subject_index": None,
                    "elements": [],
                    "service_item": None,
                    "case_no": None,
                    "decision": "allow" if e.type == "console.login" else "deny",
                    "reason": None
                    if e.type == "console.login"
                    else e.type.removeprefix("console.login_")[:32],
                    "source": None,
                    "query_id": None,
                    "response_digest": None,
                }
            )
            continue
        rows.append(
            {
                "gateway": gateway,
                "actor": e.actor_department,
                "actor_system": e.actor_system,
                "actor_user": e.actor_user,
                "action": (e.type if e.type.startswith("registry.") else f"registry.{e.type}")[:32],
                "subject_index": None,
                "elements": [e.code] if e.entity == "element" and e.code else [],
                "service_item": e.code if e.entity == "service_item" else None,
                "case_no": None,
                "decision": None,
                "reason": None,
                "source": None,
                "query_id": f"{e.entity}:{e.code}"[:64] if e.code else None,
                "response_digest": None,
            }
        )
    return rows


def audit_registry_changes(changes: RegistryChanges, writer: Any, *, gateway: str) -> None:
    """Record every registry change this process commits."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()  # keep a reference, or a task may be collected mid-write

    def _write(rows: list[dict[str, Any]]) -> None:
        async def _go() -> None:
            try:
                await writer.write(rows)
            except Exception:
                log.exception("could not audit %d registry change(s); kept for retry", len(rows))

        task = loop.create_task(_go())
        pending.add(task)
        task.add_done_callback(pending.discard)

    def listener(events: Sequence[RegistryEvent]) -> None:
        rows = rows_of(events, gateway=gateway)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _write(rows)
        else:  # announced from a worker thread (sync endpoints and console pages)
            loop.call_soon_threadsafe(_write, rows)

    changes.subscribe_events(listener)

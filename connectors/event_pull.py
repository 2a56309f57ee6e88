"""Pulling events over HTTP: for a department without a Kafka client, and for the embedded exchange
(`make run`), where copies never leave the gateway's process (docs/events.md, "Pulling").

Each round lists the department's deliveries not yet acknowledged (sent, delivered, overdue), fetches
each copy and takes it through exactly the steps of the Kafka subscriber (connectors/event_handling.py).
A copy whose handling failed is tried again after a backoff of its own, so one bad event does not turn
the loop into a busy one; the gateway's state stays the truth (an acknowledged delivery is never listed).
"""

import logging
import threading
import time

import httpx

from connectors.client import GatewayError
from connectors.event_handling import HandledEvents, Handler, handle_copy
from connectors.events import EventClient

log = logging.getLogger(__name__)
PENDING = ("sent", "delivered", "overdue")
MAX_BACKOFF_S = 300.0


class EventPuller:
    """Pulls one department's events until stopped."""

    def __init__(self, client: EventClient, handler: Handler, *, poll_s: float = 1.0) -> None:
        self._client = client
        self._handler = handler
        self._poll_s = poll_s
        self.handled = HandledEvents()
        self.refused = 0
        self._retry_at: dict[str, tuple[float, int]] = {}  # delivery id -> (not before, failures)

    def pull_once(self) -> dict[str, int]:
        """One round over every pending delivery; how many copies ended each way."""
        outcomes: dict[str, int] = {}
        now = time.monotonic()
        for delivery_id in self._pending():
            not_before, failures = self._retry_at.get(delivery_id, (0.0, 0))
            if now < not_before:
                continue
            value, headers = self._client.pull_copy(delivery_id)
            outcome = handle_copy(
                self._client, self._handler, self.handled, value, headers, on_refused=self._refused
            )
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome == "retry":
                self._retry_at[delivery_id] = (now + min(MAX_BACKOFF_S, 2.0**failures), failures + 1)
            else:
                self._retry_at.pop(delivery_id, None)
        return outcomes

    def _pending(self) -> list[str]:
        ids: list[str] = []
        for state in PENDING:
            offset = 0
            while True:
                page = self._client.deliveries(state=state, limit=100, offset=offset)
                ids += [d["id"] for d in page["items"]]
                offset += len(page["items"])
                if not page["items"] or offset >= page["total"]:
                    break
        return list(reversed(ids))  # oldest first: listed newest first

    def _refused(self, reason: str) -> None:
        self.refused += 1
        log.warning("a pulled copy was refused: %s", reason)

    def serve(self, stop: threading.Event) -> None:
        """Pull every `poll_s` seconds until `stop` is set; an unreachable gateway is retried."""
        while not stop.is_set():
            try:
                self.pull_once()
            except (GatewayError, httpx.HTTPError) as exc:
                log.warning("pulling events failed (%s); retrying", exc)
            stop.wait(self._poll_s)

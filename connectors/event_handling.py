"""One received copy, from Kafka or pulled over HTTP: open and verify it, report it delivered, hand it to
the application, acknowledge it (docs/events.md). Shared by the Kafka subscriber and the puller.

A copy that fails verification is refused (`on_refused` with its reason, then reported dead-lettered)
and never reaches the handler. Checks that could not be made, an unreachable gateway and a handler that
raised leave the copy unacknowledged: the gateway redelivers it with backoff.
"""

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx

from connectors.client import GatewayError
from connectors.events import EventClient, ReceivedEvent
from protocol.envelope import header
from protocol.jose import JoseFailure, canonical

log = logging.getLogger(__name__)
Handler = Callable[[ReceivedEvent], None]
# Checks that could not be made (the registry did not answer) say nothing against the copy.
TRANSIENT = frozenset({"registry_unavailable"})


class HandledEvents:
    """Event ids already handled and acknowledged, the oldest forgotten first beyond `capacity`."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        """Remember one more handled event."""
        self._ids[event_id] = None
        while len(self._ids) > self._capacity:
            self._ids.popitem(last=False)


def handle_copy(
    client: EventClient,
    handler: Handler,
    handled: HandledEvents,
    value: bytes,
    headers: list[tuple[str, bytes]],
    *,
    on_refused: Callable[[str], None],
) -> str:
    """Take one copy through the steps; what became of it: handled, duplicate, refused or retry."""
    delivery_id = header(headers, "delivery-id")
    try:
        event = client.open(value, headers)
        if event.event_id in handled:  # a duplicate or a redelivery of what was handled
            client.ack(event.delivery_id)
            return "duplicate"
        seen = _delivered(client, event)
        # The routing the gateway routed on must be the one the publisher signed (docs/events.md).
        if canonical(seen.get("routing") or {}) != canonical(event.routing):
            raise JoseFailure("routing_mismatch", "the gateway routed on other routing than was signed")
    except JoseFailure as exc:
        if exc.code in TRANSIENT:  # the copy may well be fine: left unacknowledged, redelivered
            log.warning("delivery %s not checked now (%s); it is redelivered", delivery_id, exc)
            return "retry"
        on_refused(exc.code)
        if delivery_id:
            try:
                client.dead_lettered(delivery_id, exc.code)
            except GatewayError as error:  # a forged copy names a delivery that is not ours, or none
                log.info("dead letter of delivery %s not recorded: %s", delivery_id[:40], error.status_code)
        return "refused"
    except (GatewayError, httpx.HTTPError) as exc:  # not acknowledged: the gateway redelivers it
        log.warning("gateway unreachable for delivery %s (%s); it is redelivered", delivery_id, exc)
        return "retry"
    try:
        handler(event)
    except Exception:
        log.exception("handler failed on event %s; the gateway redelivers it", event.event_id)
        return "retry"
    try:
        client.ack(event.delivery_id)
    except (GatewayError, httpx.HTTPError) as exc:  # handled again on redelivery: handlers are idempotent
        log.warning("ack of delivery %s failed (%s); it is redelivered", event.delivery_id, exc)
        return "retry"
    handled.add(event.event_id)
    return "handled"


def _delivered(client: EventClient, event: ReceivedEvent) -> dict[str, Any]:
    """Report the copy delivered; a delivery the gateway does not know, or of another event, means the
    copy did not come through the gateway (put on the topic by someone else): refused."""
    try:
        seen = client.delivered(event.delivery_id)
    except GatewayError as exc:
        if exc.status_code == 404:
            raise JoseFailure("unknown_delivery", "the gateway sent no such delivery to us") from exc
        raise
    if seen.get("event_id") != event.event_id:
        raise JoseFailure("wrong_binding", "the delivery is of another event")
    return seen

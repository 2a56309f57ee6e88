"""A connector survives a consumer-group rebalance on the real broker: an offset commit refused because
the group moved on without it is retried, never fatal (a connector once exited with
RebalanceInProgressError on a commit when a second instance of its department joined)."""

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest

from connectors.runtime import Connector, Handled
from exchange.transport.kafka import KafkaTransport
from protocol.clock import utcnow
from protocol.envelope import ReplyAddress, SourceReply, SourceRequest
from protocol.jose import seal_subject
from protocol.topics import DEFAULT
from tests.integration.conftest import World

pytestmark = pytest.mark.integration
REPLY_PARTITION = 7
# Short, so the group rebalances without a member stuck in one batch within the test's patience.
SLOW_MEMBER = {"max_poll_interval_ms": 4000, "session_timeout_ms": 6000, "heartbeat_interval_ms": 500}


class GatedConnector(Connector):
    """A connector whose first answer waits at a gate: a slow department database, say."""

    def __init__(self, inner: Connector) -> None:
        self.__dict__.update(inner.__dict__)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def answer(self, message: bytes) -> Handled:
        if not self.entered.is_set():
            self.entered.set()
            assert self.gate.wait(60)
        return super().answer(message)


def _request(world: World, subject_id: str, n: int) -> SourceRequest:
    source, consumer = world.keys("psb"), world.keys("zjj")
    source_kid = next(reversed(source.encryption))
    consumer_kid = next(reversed(consumer.encryption))
    query_id = f"q-rebalance-{n:04d}"
    return SourceRequest(
        query_id=query_id,
        consumer=world.dept("zjj"),
        source=world.dept("psb"),
        subject_type="person",
        subject_jwe=seal_subject(
            subject_type="person",
            subject_id=subject_id,
            query_id=query_id,
            recipient=source.encryption[source_kid],
            kid=source_kid,
        ),
        consumer_kid=consumer_kid,
        elements=["person.name"],
        service_item="330100-GZF-001",
        case_no=f"CASE-{n}",
        expires_at=utcnow() + timedelta(seconds=90),
        reply_to=ReplyAddress(topic=DEFAULT.reply_topic, partition=REPLY_PARTITION),
    )


def _send(world: World, transport: KafkaTransport, request: SourceRequest, timeout: float) -> Any:
    return transport.request(request, world.sign(request), accept=world.accept(request), timeout=timeout)


def test_a_commit_refused_after_a_rebalance_does_not_stop_the_connector(world: World) -> None:
    world.seed()  # the registry the connector looks the consumer's key up in
    gated: dict[str, GatedConnector] = {}

    def wrap(connector: Connector) -> Connector:
        gated["first"] = GatedConnector(connector)
        return gated["first"]

    first = world.start_connector("psb", wrap=wrap, membership=SLOW_MEMBER)
    first_thread = world.threads[-1]
    transport = KafkaTransport(
        {"bootstrap_servers": world.bootstrap.split(",")}, names=world.names, reply_partition=REPLY_PARTITION
    )
    subject = world.subjects.demo_person

    async def run() -> list[Any]:
        await transport.start([world.dept("psb")])
        try:
            stuck = asyncio.ensure_future(_send(world, transport, _request(world, subject, 0), 60))
            assert await asyncio.to_thread(gated["first"].entered.wait, 30), "no request reached psb"
            # A second instance of the department joins while the first is busy: the group rebalances
            # without the first (its poll interval ran out), so the first's commit is refused.
            await asyncio.to_thread(world.start_connector, "psb", membership=SLOW_MEMBER)
            gated["first"].gate.set()
            replies = [await stuck]
            replies += await asyncio.gather(
                *(_send(world, transport, _request(world, subject, n), 30) for n in range(1, 21))
            )
            return replies
        finally:
            gated["first"].gate.set()
            await transport.stop()

    replies = asyncio.run(run())
    assert all(isinstance(r, SourceReply) and r.answers[0].status == "ok" for r in replies)
    assert first_thread.is_alive(), "the connector whose commit was refused is still serving"
    assert first.commits.failures >= 1, "the refused commit was seen (and retried)"

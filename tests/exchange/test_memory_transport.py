"""The in-process transport: the same deadline, failure mapping and reply check the Kafka one gives."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from joserfc.jwk import OKPKey

from exchange.transport.base import SourceTimeout, SourceUnavailable
from exchange.transport.memory import MemoryTransport
from protocol.clock import utcnow
from protocol.envelope import ElementAnswer, SourceReply, SourceRequest
from protocol.signed_messages import open_reply, sign_reply, sign_request

GATEWAY = OKPKey.generate_key("Ed25519")
PSB = OKPKey.generate_key("Ed25519")
OTHER = OKPKey.generate_key("Ed25519")


def _run(coroutine: Any) -> Any:
    """asyncio.run in a worker thread: the browser tests (Playwright's sync API) leave a running loop
    in the main thread of the test process, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _request(source: str = "psb") -> SourceRequest:
    return SourceRequest(
        query_id="q-transport-01",
        consumer="zjj",
        source=source,
        subject_type="person",
        subject_jwe="header.key.iv.ciphertext.tag",  # opaque to the transport
        consumer_kid="k",
        elements=["person.name"],
        service_item="330100-GZF-001",
        case_no="C-1",
        expires_at=utcnow() + timedelta(seconds=30),
    )


def _reply(message: bytes, *, key: OKPKey = PSB) -> bytes:
    from tests.sourcekit import request_of

    request = request_of(message)
    reply = SourceReply(
        correlation_id=request.message_id,
        source=request.source,
        answers=[ElementAnswer(code="person.name", status="ok", jws_jwe="h.k.i.c.t")],
    )
    return sign_reply(reply, key=key, kid="psb-sig")


def _send(transport: MemoryTransport, request: SourceRequest, *, timeout: float) -> Any:
    def accept(data: bytes) -> SourceReply:
        return open_reply(data, request=request, resolve={"psb-sig": PSB}.get)

    message = sign_request(request, key=GATEWAY, kid="gw")
    return _run(transport.request(request, message, accept=accept, timeout=timeout))


def test_a_registered_handler_answers() -> None:
    transport = MemoryTransport()
    transport.register("psb", _reply)
    request = _request()
    reply = _send(transport, request, timeout=1.0)
    assert reply.correlation_id == request.message_id
    assert reply.answers[0].jws_jwe == "h.k.i.c.t"


def test_a_reply_the_check_refuses_counts_as_no_reply() -> None:
    transport = MemoryTransport()
    transport.register("psb", lambda m: _reply(m, key=OTHER))  # signed by someone else under psb's kid
    started = time.monotonic()
    with pytest.raises(SourceTimeout):
        _send(transport, _request(), timeout=0.2)
    assert time.monotonic() - started >= 0.2


def test_a_handler_that_refuses_unanswered_is_a_timeout() -> None:
    transport = MemoryTransport()
    transport.register("psb", lambda m: None)
    with pytest.raises(SourceTimeout):
        _send(transport, _request(), timeout=0.1)


def test_nobody_serving_is_a_timeout_after_the_deadline() -> None:
    transport = MemoryTransport()
    transport.register("psb", _reply)
    transport.unregister("psb")
    transport.unregister("never-registered")  # harmless
    started = time.monotonic()
    with pytest.raises(SourceTimeout):
        _send(transport, _request(), timeout=0.1)
    assert time.monotonic() - started >= 0.1


def test_a_slow_handler_is_a_timeout() -> None:
    transport = MemoryTransport()

    def _slow(message: bytes) -> bytes:
        time.sleep(0.3)
        return _reply(message)

    transport.register("psb", _slow)
    with pytest.raises(SourceTimeout):
        _send(transport, _request(), timeout=0.05)


def test_a_raising_handler_is_unavailable_without_its_message() -> None:
    transport = MemoryTransport()

    def _broken(message: bytes) -> bytes:
        raise RuntimeError("password=hunter2")

    transport.register("psb", _broken)
    with pytest.raises(SourceUnavailable) as excinfo:
        _send(transport, _request(), timeout=1.0)
    assert str(excinfo.value) == "psb: RuntimeError"


def test_requests_go_to_the_named_source_only() -> None:
    transport = MemoryTransport()
    seen: list[str] = []

    def _handler(name: str) -> Any:
        def _h(message: bytes) -> bytes:
            seen.append(name)
            return _reply(message)

        return _h

    transport.register("psb", _handler("psb"))
    transport.register("hrss", _handler("hrss"))
    assert _send(transport, _request("hrss"), timeout=1.0).source == "hrss"
    assert seen == ["hrss"]

"""The in-process transport: the same deadline and failure mapping the Kafka transport gives."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from exchange.transport.base import SourceTimeout, SourceUnavailable
from exchange.transport.memory import MemoryTransport
from protocol.envelope import ElementAnswer, SourceReply, SourceRequest


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
        consumer_key={"kty": "OKP", "crv": "X25519", "x": "AA", "kid": "k"},
        elements=["person.name"],
        service_item="330100-GZF-001",
        case_no="C-1",
    )


def _reply(request: SourceRequest) -> SourceReply:
    return SourceReply(
        correlation_id=request.message_id,
        source=request.source,
        answers=[ElementAnswer(code="person.name", status="ok", jws_jwe="h.k.i.c.t")],
    )


def test_a_registered_handler_answers() -> None:
    transport = MemoryTransport()
    transport.register("psb", _reply)
    request = _request()
    reply = _run(transport.request(request, timeout=1.0))
    assert reply.correlation_id == request.message_id
    assert reply.answers[0].jws_jwe == "h.k.i.c.t"


def test_nobody_serving_is_a_timeout_after_the_deadline() -> None:
    transport = MemoryTransport()
    transport.register("psb", _reply)
    transport.unregister("psb")
    transport.unregister("never-registered")  # harmless
    started = time.monotonic()
    with pytest.raises(SourceTimeout):
        _run(transport.request(_request(), timeout=0.1))
    assert time.monotonic() - started >= 0.1


def test_a_slow_handler_is_a_timeout() -> None:
    transport = MemoryTransport()

    def _slow(request: SourceRequest) -> SourceReply:
        time.sleep(0.3)
        return _reply(request)

    transport.register("psb", _slow)
    with pytest.raises(SourceTimeout):
        _run(transport.request(_request(), timeout=0.05))


def test_a_raising_handler_is_unavailable_without_its_message() -> None:
    transport = MemoryTransport()

    def _broken(request: SourceRequest) -> SourceReply:
        raise RuntimeError("password=hunter2")

    transport.register("psb", _broken)
    with pytest.raises(SourceUnavailable) as excinfo:
        _run(transport.request(_request(), timeout=1.0))
    assert str(excinfo.value) == "psb: RuntimeError"


def test_requests_go_to_the_named_source_only() -> None:
    transport = MemoryTransport()
    seen: list[str] = []

    def _handler(name: str):
        def _h(request: SourceRequest) -> SourceReply:
            seen.append(name)
            return _reply(request)

        return _h

    transport.register("psb", _handler("psb"))
    transport.register("hrss", _handler("hrss"))
    _run(transport.request(_request("hrss"), timeout=1.0))
    assert seen == ["hrss"]

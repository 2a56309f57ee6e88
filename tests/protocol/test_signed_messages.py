"""Signed requests and replies (protocol/signed_messages.py): what a source and the gateway refuse."""

from datetime import timedelta

import pytest
from joserfc.jwk import OKPKey

from protocol.clock import utcnow
from protocol.envelope import ElementAnswer, ReplyAddress, SourceReply, SourceRequest
from protocol.jose import JoseFailure
from protocol.signed_messages import (
    CLOCK_TOLERANCE,
    SeenMessages,
    open_reply,
    open_request,
    sign_reply,
    sign_request,
)

GATEWAY = OKPKey.generate_key("Ed25519")
PSB = OKPKey.generate_key("Ed25519")
PINNED = {"gw": GATEWAY}
REPLIES = "shuyuan.rep"


def _request(**changes: object) -> SourceRequest:
    values: dict[str, object] = {
        "query_id": "q-1",
        "consumer": "zjj",
        "source": "psb",
        "subject_type": "person",
        "subject_jwe": "a.b.c.d.e",
        "consumer_kid": "zjj-enc",
        "elements": ["person.name"],
        "service_item": "330100-GZF-001",
        "case_no": "C-1",
        "expires_at": utcnow() + timedelta(seconds=3),
        "reply_to": ReplyAddress(topic=REPLIES, partition=4),
    }
    return SourceRequest.model_validate(values | changes)


def _open(message: bytes, **kw: object) -> SourceRequest:
    args: dict[str, object] = {"gateway_keys": PINNED, "department": "psb", "reply_topic": REPLIES}
    return open_request(message, **(args | kw))  # type: ignore[arg-type]


def _refused(message: bytes, **kw: object) -> str:
    with pytest.raises(JoseFailure) as excinfo:
        _open(message, **kw)
    return excinfo.value.code


def test_a_signed_request_opens_to_what_was_signed() -> None:
    request = _request()
    assert _open(sign_request(request, key=GATEWAY, kid="gw")) == request


def test_what_a_source_refuses() -> None:
    good = sign_request(_request(), key=GATEWAY, kid="gw")
    head, body, sig = good.split(b".")
    assert _refused(_request().model_dump_json().encode()) == "unsigned"
    assert _refused(b"\xff\xfe") == "unsigned"
    assert _refused(sign_request(_request(), key=OKPKey.generate_key("Ed25519"), kid="gw")) == (
        "invalid_signature"
    )
    assert _refused(sign_request(_request(), key=GATEWAY, kid="other")) == "unknown_key"
    assert _refused(b".".join([head, body[:-4] + b"AAAA", sig])) == "invalid_signature"
    assert _refused(good, department="hrss") == "wrong_recipient"
    assert _refused(good, reply_topic="shuyuan.rep.attacker") == "wrong_reply_address"
    assert _refused(good, reply_topic=None) == "wrong_reply_address"  # in-process sources take none
    past = utcnow() - timedelta(seconds=60)
    expired = sign_request(_request(created_at=past, expires_at=past), key=GATEWAY, kid="gw")
    assert _refused(expired) == "expired"
    future = utcnow() + CLOCK_TOLERANCE + timedelta(seconds=30)
    assert _refused(sign_request(_request(created_at=future), key=GATEWAY, kid="gw")) == "not_yet_valid"


def test_a_reply_cannot_be_passed_off_as_a_request() -> None:
    """Same key, same JSON shape tricks: the JWS `typ` of a reply is not a request's."""
    reply = SourceReply(correlation_id="m", source="psb", answers=[])
    assert _refused(sign_reply(reply, key=GATEWAY, kid="gw")) == "wrong_type"


def test_a_reply_is_accepted_only_from_the_asked_source_for_the_sent_request() -> None:
    request = _request()
    reply = SourceReply(
        correlation_id=request.message_id,
        source="psb",
        answers=[ElementAnswer(code="person.name", status="not_found")],
    )
    psb_keys = {"psb-sig": PSB}.get
    assert open_reply(sign_reply(reply, key=PSB, kid="psb-sig"), request=request, resolve=psb_keys) == reply
    for data, code in [
        (reply.model_dump_json().encode(), "unsigned"),
        (sign_reply(reply, key=OKPKey.generate_key("Ed25519"), kid="psb-sig"), "invalid_signature"),
        (sign_reply(reply, key=PSB, kid="hrss-sig"), "unknown_key"),
        (
            sign_reply(reply.model_copy(update={"correlation_id": "another"}), key=PSB, kid="psb-sig"),
            "wrong_binding",
        ),
        (sign_reply(reply.model_copy(update={"source": "hrss"}), key=PSB, kid="psb-sig"), "wrong_binding"),
    ]:
        with pytest.raises(JoseFailure) as excinfo:
            open_reply(data, request=request, resolve=psb_keys)
        assert excinfo.value.code == code


def test_a_request_is_accepted_once_until_it_expires() -> None:
    seen = SeenMessages()
    request = _request()
    seen.check_and_add(request)
    with pytest.raises(JoseFailure) as excinfo:
        seen.check_and_add(request)
    assert excinfo.value.code == "replayed"
    seen.forget(request.message_id)  # never delivered: answering again is no replay
    seen.check_and_add(request)
    later = utcnow() + timedelta(seconds=30)
    seen.check_and_add(_request(), now=later)  # the first id has expired and is dropped
    assert len(seen) == 1


def test_the_seen_set_is_bounded() -> None:
    seen = SeenMessages(capacity=3)
    for _ in range(10):
        seen.check_and_add(_request())
    assert len(seen) <= 3

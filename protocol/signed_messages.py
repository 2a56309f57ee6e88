"""Signed requests and replies between the gateway and the sources (docs/security.md, "Signed requests").

A `SourceRequest` travels as a JWS compact signed by the gateway's request key, a `SourceReply` as a
JWS compact signed by the answering source's signing key: the Kafka value is the JWS itself, so no
field of either (the reply address and the expiry included) can be changed or added on the way, and
a header is never trusted. Each kind has its own JWS `typ`, so one can never be passed off as the
other. The payload is RFC 8785 canonical JSON of the message.

A source refuses a request that is not signed by a gateway key it pinned, expired, from the future,
already seen (`SeenMessages`), meant for another department or naming a reply topic other than the
configured one; it answers nothing then (the message goes to the dead-letter queue). The gateway
accepts a reply only if the source it asked signed it, for the request it sent.
"""

import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import Key
from pydantic import ValidationError

from protocol.clock import as_utc, utcnow
from protocol.crypto_profile import DEFAULT, CryptoProfile
from protocol.envelope import SourceReply, SourceRequest
from protocol.jose import JoseFailure, KeyResolver, canonical, sign, verify

REQUEST_TYP = "shuyuan-source-request+jws"
REPLY_TYP = "shuyuan-source-reply+jws"
# Clocks of the gateway and the sources may differ by this much before a request counts as expired or
# as coming from the future (NTP keeps them within milliseconds; a gap this wide is a broken clock).
CLOCK_TOLERANCE = timedelta(seconds=5)
MAX_MESSAGE_BYTES = 1024 * 1024
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")


def sign_request(request: SourceRequest, *, key: Key, kid: str, profile: CryptoProfile = DEFAULT) -> bytes:
    """The request as the gateway sends it: a JWS compact over its canonical JSON."""
    payload = canonical(request.model_dump(mode="json"))
    return sign(payload, key=key, kid=kid, profile=profile, typ=REQUEST_TYP).encode("ascii")


def sign_reply(reply: SourceReply, *, key: Key, kid: str, profile: CryptoProfile = DEFAULT) -> bytes:
    """The reply as a source sends it: a JWS compact over its canonical JSON."""
    payload = canonical(reply.model_dump(mode="json"))
    return sign(payload, key=key, kid=kid, profile=profile, typ=REPLY_TYP).encode("ascii")


def _payload(data: bytes, *, resolve: KeyResolver, profile: CryptoProfile, typ: str) -> tuple[Any, str]:
    if not isinstance(data, bytes) or len(data) > MAX_MESSAGE_BYTES:
        raise JoseFailure("malformed", "not a signed message of acceptable size")
    try:
        token = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise JoseFailure("unsigned", "the message is not a compact JWS") from exc
    if not _COMPACT_JWS.fullmatch(token):
        raise JoseFailure("unsigned", "the message is not a compact JWS")
    payload, kid = verify(token, resolve=resolve, profile=profile, typ=typ)
    try:
        return json.loads(payload), kid
    except ValueError as exc:
        raise JoseFailure("malformed", "the signed payload is not JSON") from exc


def open_request(
    data: bytes,
    *,
    gateway_keys: Mapping[str, Key],
    department: str,
    reply_topic: str | None,
    profile: CryptoProfile = DEFAULT,
    now: datetime | None = None,
) -> SourceRequest:
    """Verify a request for `department` against the pinned gateway keys; JoseFailure says why not.

    `reply_topic` is the reply topic this source is configured with (None on the in-process
    transport, where there is no address): a request naming another one is refused.
    """
    body, _ = _payload(data, resolve=gateway_keys.get, profile=profile, typ=REQUEST_TYP)
    try:
        request = SourceRequest.model_validate(body)
    except ValidationError as exc:
        raise JoseFailure("malformed", "the signed request is not a valid SourceRequest") from exc
    at = now or utcnow()
    if as_utc(request.expires_at) + CLOCK_TOLERANCE < at:
        raise JoseFailure("expired", "the request expired; its gateway no longer waits for it")
    if as_utc(request.created_at) - CLOCK_TOLERANCE > at:
        raise JoseFailure("not_yet_valid", "the request was made in the future")
    if request.source != department:
        raise JoseFailure("wrong_recipient", "the request is meant for another department")
    address = request.reply_to
    if (reply_topic is None) != (address is None) or (address is not None and address.topic != reply_topic):
        raise JoseFailure(
            "wrong_reply_address", "the request names a reply topic other than the configured one"
        )
    return request


def open_reply(
    data: bytes, *, request: SourceRequest, resolve: KeyResolver, profile: CryptoProfile = DEFAULT
) -> SourceReply:
    """Verify a reply to `request` with the asked source's keys (`resolve`); JoseFailure says why not.

    `resolve` must return only valid signing keys of `request.source`: a reply signed by anyone else,
    or naming another source or request, is refused whatever its fields claim.
    """
    body, _ = _payload(data, resolve=resolve, profile=profile, typ=REPLY_TYP)
    try:
        reply = SourceReply.model_validate(body)
    except ValidationError as exc:
        raise JoseFailure("malformed", "the signed reply is not a valid SourceReply") from exc
    if reply.source != request.source or reply.correlation_id != request.message_id:
        raise JoseFailure("wrong_binding", "the signed reply is for another request or source")
    return reply


class SeenMessages:
    """Message ids of requests already accepted, kept until they expire: a replay is refused.

    A request is accepted only before its expiry, so an id needs remembering only that long; at most
    `capacity` ids are kept (the oldest dropped first), which bounds memory under a flood.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self._capacity = capacity
        self._until: OrderedDict[str, datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def check_and_add(self, request: SourceRequest, *, now: datetime | None = None) -> None:
        """Remember the request's id; JoseFailure `replayed` if it is remembered already."""
        at = now or utcnow()
        while self._until:
            oldest, until = next(iter(self._until.items()))
            if until >= at and len(self._until) < self._capacity:
                break
            del self._until[oldest]
        if request.message_id in self._until:
            raise JoseFailure("replayed", "this request was already answered")
        self._until[request.message_id] = as_utc(request.expires_at) + CLOCK_TOLERANCE

    def forget(self, message_id: str) -> None:
        """Forget an id (its answer was never delivered, so answering it again is no replay)."""
        self._until.pop(message_id, None)

"""One recipient's copy of an event (双告知): signed by the publisher, encrypted to the recipient.

The publisher signs a canonical JSON `EventClaims` (JWS compact, `typ` EVENT_TYP: never taken for a
request, a reply or an answer) with its department's signing key, then encrypts that JWS to the
recipient department's encryption key (JWE compact). The gateway carries the JWE only: it never sees
the payload. The recipient opens it with `open_copy`, which checks the publisher's signature, that the
copy names the recipient itself and that the signed routing metadata is the routing the gateway routed
on (a publisher that lied about routing to reach or avoid a department is caught here).
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from joserfc.jwk import Key
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocol.crypto_profile import DEFAULT, CryptoProfile
from protocol.jose import (
    JoseFailure,
    KeyResolver,
    canonical,
    decrypt,
    encrypt,
    peek_header,
    sign,
    thumbprint,
    verify,
)

EVENT_TYP = "shuyuan-event+jws"
EVENT_ID_PATTERN = r"^[A-Za-z0-9_-]{8,48}$"


class EventSubject(BaseModel):
    """The person or enterprise an event is about (its identifier travels only inside copies)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str = Field(pattern=r"^(person|enterprise)$")
    id: str = Field(min_length=1, max_length=64)


class EventClaims(BaseModel):
    """What the publisher signs for one recipient."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    event_id: str = Field(pattern=EVENT_ID_PATTERN)
    type: str = Field(max_length=64)
    publisher: str = Field(max_length=32)
    subject: EventSubject
    routing: dict[str, Any]
    payload: dict[str, Any]
    recipient: str = Field(max_length=32)
    published_at: datetime
    # RFC 7800 `cnf`: the thumbprint of the key the publisher encrypted to (set by seal_copy), so a copy
    # re-wrapped by whoever swapped the recipient's key in the directory is caught (as answers' `cnf`).
    cnf: dict[str, str] | None = None


def seal_copy(
    claims: EventClaims,
    *,
    signing_key: Key,
    signing_kid: str,
    recipient_key: Key,
    recipient_kid: str,
    profile: CryptoProfile = DEFAULT,
) -> str:
    """The recipient's copy: the publisher's JWS over the claims (bound to the recipient's key by `cnf`),
    encrypted to that key."""
    claims = claims.model_copy(update={"cnf": {"jkt": thumbprint(recipient_key)}})
    jws = sign(
        canonical(claims.model_dump(mode="json")),
        key=signing_key,
        kid=signing_kid,
        profile=profile,
        typ=EVENT_TYP,
    )
    return encrypt(
        jws.encode("ascii"), recipient=recipient_key, kid=recipient_kid, profile=profile, cty="JWT"
    )


def open_copy(
    token: str,
    *,
    keys: Mapping[str, Key],
    resolve: KeyResolver,
    recipient: str,
    publisher: str,
    routing: Mapping[str, Any],
    profile: CryptoProfile = DEFAULT,
) -> tuple[EventClaims, str]:
    """Decrypt and verify a copy for `recipient` from `publisher`; (claims, signing kid) or JoseFailure.

    `resolve` must return only valid signing keys of `publisher` (from the key directory); `routing`
    is the routing metadata the copy arrived with.
    """
    inner = decrypt(token, keys=keys, profile=profile)
    opened_with = keys[str(peek_header(token).get("kid"))]  # decrypt found it, or raised
    try:
        jws = inner.decode("ascii")
    except UnicodeDecodeError as exc:
        raise JoseFailure("malformed", "the copy does not hold a compact JWS") from exc
    payload, kid = verify(jws, resolve=resolve, profile=profile, typ=EVENT_TYP)
    try:
        claims = EventClaims.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as exc:
        raise JoseFailure("malformed", "the signed copy is not valid EventClaims") from exc
    if claims.publisher != publisher:
        raise JoseFailure("wrong_publisher", "the copy is signed for another publisher")
    if claims.recipient != recipient:
        raise JoseFailure("wrong_recipient", "the copy is meant for another department")
    if claims.cnf is None or claims.cnf.get("jkt") != thumbprint(opened_with):
        raise JoseFailure("wrong_recipient_key", "the publisher encrypted this copy to another key")
    if canonical(claims.routing) != canonical(dict(routing)):
        raise JoseFailure("routing_mismatch", "the signed routing is not the routing the event was sent with")
    return claims, kid


def copy_headers(
    *, event_id: str, delivery_id: str, type: str, publisher: str, recipient: str, routing: Mapping[str, Any]
) -> list[tuple[str, bytes]]:
    """Kafka headers of a copy: where it belongs (its routing in canonical JSON); the signed copy is
    what the recipient trusts, and `open_copy` compares the two."""
    return [
        ("message-id", event_id.encode()),
        ("delivery-id", delivery_id.encode()),
        ("type", type.encode()),
        ("sender", publisher.encode()),
        ("recipient", recipient.encode()),
        ("routing", canonical(dict(routing))),
    ]

"""Test helpers around the signed request-reply between the gateway and the sources.

`request_of` / `reply_of` read a signed message without checking it (what anyone on the way can do);
`serve` puts a wrapper between the in-process transport and a department's real connector, the way a
test plays a compromised or changed source: the wrapper sees the request, may change it (re-signed
with the gateway's key, as the gateway would have sent it) and may change the reply (re-signed with
the source's own key, as a dishonest source could).
"""

import base64
import json
from collections.abc import Callable

from connectors.keys import DepartmentKeys
from protocol.envelope import SourceReply, SourceRequest
from protocol.signed_messages import sign_reply
from shuyuan.embedded import Embedded


def payload_of(message: bytes) -> dict[str, object]:
    """The JSON payload of a signed message, unverified."""
    part = message.split(b".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))))


def request_of(message: bytes) -> SourceRequest:
    """The request inside a signed request message, unverified."""
    return SourceRequest.model_validate(payload_of(message))


def reply_of(data: bytes) -> SourceReply:
    """The reply inside a signed reply message, unverified."""
    return SourceReply.model_validate(payload_of(data))


def as_gateway(embedded: Embedded, request: SourceRequest) -> bytes:
    """The request signed with the running gateway's request key."""
    return embedded.state.request_signer.sign(request)


def as_source(keys: DepartmentKeys, reply: SourceReply) -> bytes:
    """The reply signed with a department's own signing key."""
    return sign_reply(reply, key=keys.signing_key, kid=keys.signing_kid, profile=keys.profile)


def serve(
    embedded: Embedded,
    dept: str,
    *,
    request: Callable[[SourceRequest], SourceRequest] | None = None,
    reply: Callable[[SourceRequest, SourceReply], SourceReply] | None = None,
    before: Callable[[SourceRequest], None] | None = None,
) -> list[SourceRequest]:
    """Serve `dept` through its real connector, changing requests and replies on the way; returns
    the list of requests seen (as the gateway sent them)."""
    connector = embedded.connectors[dept]
    seen: list[SourceRequest] = []

    def _handler(message: bytes) -> bytes | None:
        sent = request_of(message)
        seen.append(sent)
        if before is not None:
            before(sent)
        if request is not None:
            message = as_gateway(embedded, request(sent))
        data = connector.handle(message)
        if data is None or reply is None:
            return data
        return as_source(embedded.keys[dept], reply(sent, reply_of(data)))

    embedded.transport.register(dept, _handler)
    return seen

"""The connector: answers a source department's requests from its own systems.

It decrypts the subject identifier with the department's private encryption key, reads its own
database, signs each value with its private signing key and encrypts the signed value to the consumer
department's public encryption key, which it looks up in the registry's key directory (by the
consumer and kid the gateway-signed request names). It answers only requests signed by a gateway key
it pinned (protocol/signed_messages.py). Values and identifiers exist in the clear
only here and at the consumer.
"""

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import Key

from connectors.adapters.sql import SqlAdapter
from connectors.config import ConnectorConfig
from connectors.keys import DepartmentKeys
from protocol import value_schema
from protocol.envelope import ElementAnswer, SourceReply, SourceRequest
from protocol.jose import JoseFailure, open_subject, seal_answer, subject_binding, thumbprint
from protocol.signed_messages import SeenMessages, open_request, sign_reply

log = logging.getLogger(__name__)

# (consumer department, kid) -> that department's valid public encryption key from the registry's key
# directory, or None. Never a key named by the request (connectors/key_directory.py).
ConsumerKeys = Callable[[str, str], Key | None]


@dataclass(frozen=True)
class Handled:
    """The signed reply (None when the request is not answered at all) and why, for the dead letters."""

    reply: bytes | None
    problem: str | None = None
    request: SourceRequest | None = None


class Connector:
    """Turns a signed SourceRequest into a signed SourceReply; transport-agnostic."""

    def __init__(
        self,
        config: ConnectorConfig,
        keys: DepartmentKeys,
        *,
        gateway_keys: Mapping[str, Key],
        consumer_keys: ConsumerKeys,
        reply_topic: str | None = None,
        adapter: SqlAdapter | None = None,
    ) -> None:
        if keys.department != config.department:
            raise ValueError(f"keys of {keys.department!r} cannot serve department {config.department!r}")
        if not gateway_keys:
            raise ValueError("a connector needs the gateway's request keys: it answers only signed requests")
        self.config = config
        self.department = config.department
        self.keys = keys
        self.gateway_keys = dict(gateway_keys)
        self._consumer_keys = consumer_keys
        self.reply_topic = reply_topic  # the one reply topic this source sends to (None: in-process)
        self._seen = SeenMessages()
        self._seen_lock = threading.Lock()  # the in-process transport answers from worker threads
        self.adapter = adapter or SqlAdapter(config.database_url, config.elements)

    def handle(self, message: bytes) -> bytes | None:
        """Answer one signed request with a signed reply; None when it is refused unanswered."""
        return self.answer(message).reply

    def answer(self, message: bytes) -> Handled:
        """Verify and answer one request, saying why when it was refused or could not be read."""
        try:
            request = open_request(
                message,
                gateway_keys=self.gateway_keys,
                department=self.department,
                reply_topic=self.reply_topic,
                profile=self.keys.profile,
            )
            with self._seen_lock:
                self._seen.check_and_add(request)
        except JoseFailure as exc:
            # Not from the gateway, expired, replayed or misaddressed: nothing is answered or looked up.
            log.warning("refused request: %s", exc.code)
            return Handled(None, problem=exc.code)
        try:
            return self._answer_verified(request)
        except BaseException:
            self.forget(request)  # not answered after all (its database failed ...): no replay when retried
            raise

    def _answer_verified(self, request: SourceRequest) -> Handled:
        if self.config.subject_type and request.subject_type != self.config.subject_type:
            return Handled(
                self._failed(request, "invalid_request"), problem="wrong_subject_type", request=request
            )
        try:
            subject_type, subject_id = open_subject(
                request.subject_jwe,
                query_id=request.query_id,
                keys=self.keys.encryption,
                profile=self.keys.profile,
            )
            if subject_type != request.subject_type:
                raise JoseFailure("wrong_binding", "the subject JWE names another subject type")
            recipient = self._consumer_keys(request.consumer, request.consumer_kid)
            if recipient is None:
                raise JoseFailure("unknown_consumer_key", "the consumer has no such valid encryption key")
        except JoseFailure as exc:
            # Logged without the token: it may be a probe, and its content is of no use to an operator.
            log.warning("unreadable request %s for %s: %s", request.message_id, request.consumer, exc.code)
            return Handled(self._failed(request, "invalid_request"), problem=exc.code, request=request)
        # The answer names the key it is encrypted to (RFC 7800 `cnf`, by RFC 7638 thumbprint): a
        # gateway that re-encrypts it to another key cannot hide that from the consumer's SDK.
        binding = {"jkt": thumbprint(recipient)}
        answers = []
        for lookup in self.adapter.lookup(subject_id, request.elements):
            if lookup.status != "ok":
                answers.append(ElementAnswer(code=lookup.code, status=lookup.status, reason=lookup.reason))
                continue
            if not _conforms(lookup.value, request.value_schemas.get(lookup.code)):
                # Never sign what breaks the registered schema; the value itself is not logged.
                log.warning("value of %s for query %s breaks its schema", lookup.code, request.query_id)
                answers.append(ElementAnswer(code=lookup.code, status="failed", reason="source_unavailable"))
                continue
            claims = {
                "query_id": request.query_id,
                "element": lookup.code,
                "sub": subject_binding(
                    query_id=request.query_id, subject_type=subject_type, subject_id=subject_id
                ),
                "value": lookup.value,
                "iss": self.department,
                "aud": request.consumer,
                "cnf": binding,
            }
            token = seal_answer(
                claims,
                signing_key=self.keys.signing_key,
                signing_kid=self.keys.signing_kid,
                recipient=recipient,
                recipient_kid=request.consumer_kid,
                profile=self.keys.profile,
            )
            answers.append(ElementAnswer(code=lookup.code, status="ok", jws_jwe=token))
        reply = SourceReply(correlation_id=request.message_id, source=self.department, answers=answers)
        return Handled(self._sign(reply), request=request)

    def forget(self, request: SourceRequest) -> None:
        """The reply to this request was never delivered: answering it again is not a replay."""
        with self._seen_lock:
            self._seen.forget(request.message_id)

    def _failed(self, request: SourceRequest, reason: str) -> bytes:
        answers = [ElementAnswer(code=c, status="failed", reason=reason) for c in request.elements]
        return self._sign(
            SourceReply(correlation_id=request.message_id, source=self.department, answers=answers)
        )

    def _sign(self, reply: SourceReply) -> bytes:
        # Every status is signed, `failed` and `not_found` too: the gateway believes none unsigned.
        return sign_reply(
            reply, key=self.keys.signing_key, kid=self.keys.signing_kid, profile=self.keys.profile
        )

    def close(self) -> None:
        """Release the department database pool."""
        self.adapter.close()


def _conforms(value: Any, schema: dict[str, Any] | None) -> bool:
    """Whether a value matches the element's JSON Schema; fetches nothing (protocol/value_schema.py)."""
    return value_schema.conforms(value, schema)

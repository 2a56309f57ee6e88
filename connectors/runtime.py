"""The connector: answers a source department's requests from its own systems.

It decrypts the subject identifier with the department's private encryption key, reads its own
database, signs each value with its private signing key and encrypts the signed value to the consumer
department's public encryption key named in the request. Values and identifiers exist in the clear
only here and at the consumer.
"""

import logging
from dataclasses import dataclass
from typing import Any

from connectors.adapters.sql import SqlAdapter
from connectors.config import ConnectorConfig
from connectors.keys import DepartmentKeys
from protocol import value_schema
from protocol.envelope import ElementAnswer, SourceReply, SourceRequest
from protocol.jose import JoseFailure, import_public, open_subject, seal_answer, subject_binding

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handled:
    """A reply, and why the request was unreadable when it was (for the dead-letter queue)."""

    reply: SourceReply
    problem: str | None = None


class Connector:
    """Turns a SourceRequest into a SourceReply; transport-agnostic."""

    def __init__(
        self, config: ConnectorConfig, keys: DepartmentKeys, adapter: SqlAdapter | None = None
    ) -> None:
        if keys.department != config.department:
            raise ValueError(f"keys of {keys.department!r} cannot serve department {config.department!r}")
        self.config = config
        self.department = config.department
        self.keys = keys
        self.adapter = adapter or SqlAdapter(config.database_url, config.elements)

    def handle(self, request: SourceRequest) -> SourceReply:
        """Answer one request; refuses requests meant for another department or subject type."""
        return self.answer(request).reply

    def answer(self, request: SourceRequest) -> Handled:
        """Answer one request, saying why when it could not be read (bad JWE, foreign key, ...)."""
        if request.source != self.department or (
            self.config.subject_type and request.subject_type != self.config.subject_type
        ):
            return Handled(self._failed(request, "invalid_request"))
        try:
            subject_type, subject_id = open_subject(
                request.subject_jwe,
                query_id=request.query_id,
                keys=self.keys.encryption,
                profile=self.keys.profile,
            )
            if subject_type != request.subject_type:
                raise JoseFailure("wrong_binding", "the subject JWE names another subject type")
            kid = request.consumer_key.get("kid")
            if not isinstance(kid, str) or not kid:
                raise JoseFailure("bad_key", "the consumer key has no kid")
            recipient = import_public(request.consumer_key, use="enc", profile=self.keys.profile)
        except JoseFailure as exc:
            # Logged without the token: it may be a probe, and its content is of no use to an operator.
            log.warning("unreadable request %s for %s: %s", request.message_id, request.consumer, exc.code)
            return Handled(self._failed(request, "invalid_request"), problem=exc.code)
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
            }
            token = seal_answer(
                claims,
                signing_key=self.keys.signing_key,
                signing_kid=self.keys.signing_kid,
                recipient=recipient,
                recipient_kid=kid,
                profile=self.keys.profile,
            )
            answers.append(ElementAnswer(code=lookup.code, status="ok", jws_jwe=token))
        return Handled(
            SourceReply(correlation_id=request.message_id, source=self.department, answers=answers)
        )

    def _failed(self, request: SourceRequest, reason: str) -> SourceReply:
        answers = [ElementAnswer(code=c, status="failed", reason=reason) for c in request.elements]
        return SourceReply(correlation_id=request.message_id, source=self.department, answers=answers)

    def close(self) -> None:
        """Release the department database pool."""
        self.adapter.close()


def _conforms(value: Any, schema: dict[str, Any] | None) -> bool:
    """Whether a value matches the element's JSON Schema; fetches nothing (protocol/value_schema.py)."""
    return value_schema.conforms(value, schema)

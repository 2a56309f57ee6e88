"""The connector: answers a source department's requests from its own systems."""

import logging

from connectors.adapters.sql import SqlAdapter
from connectors.config import ConnectorConfig
from protocol.envelope import ElementAnswer, SourceReply, SourceRequest

log = logging.getLogger(__name__)


class Connector:
    """Turns a SourceRequest into a SourceReply; transport-agnostic."""

    def __init__(self, config: ConnectorConfig, adapter: SqlAdapter | None = None) -> None:
        self.config = config
        self.department = config.department
        self.adapter = adapter or SqlAdapter(config.database_url, config.elements)

    def handle(self, request: SourceRequest) -> SourceReply:
        """Answer one request; refuses requests meant for another department or subject type."""
        if request.source != self.department or (
            self.config.subject_type and request.subject.type != self.config.subject_type
        ):
            answers = [
                ElementAnswer(code=c, status="failed", reason="invalid_request") for c in request.elements
            ]
        else:
            answers = self.adapter.lookup(request.subject.id, request.elements)
        return SourceReply(correlation_id=request.message_id, source=self.department, answers=answers)

    def close(self) -> None:
        """Release the department database pool."""
        self.adapter.close()

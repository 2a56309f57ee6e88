"""Topic creation on start-up, shared by the gateway and the connectors."""

import logging
from collections.abc import Mapping
from typing import Any

from kafka.admin import KafkaAdminClient
from kafka.errors import ClusterAuthorizationFailedError, TopicAuthorizationFailedError

log = logging.getLogger(__name__)


def ensure_topics(client_config: Mapping[str, Any], topics: Mapping[str, int]) -> None:
    """Create the topics (name -> partitions) that do not exist yet and wait until they have leaders."""
    admin = KafkaAdminClient(**client_config)
    try:
        existing = set(admin.list_topics())
        missing = {
            name: {"num_partitions": partitions, "replication_factor": -1}
            for name, partitions in topics.items()
            if name not in existing
        }
        if missing:
            # raise_errors=False: another process may create the same topic at the same moment.
            result = admin.create_topics(missing, raise_errors=False)
            refused = _not_authorized(result)
            if refused:
                # Secured profile (docs/security.md): only the gateway may create topics. A connector or
                # sealer started first reads the topic once the gateway (or the operator) has made it.
                log.warning(
                    "not allowed to create topics %s: the gateway or the operator creates them", refused
                )
            if waiting := [name for name in missing if name not in refused]:
                admin.wait_for_topics(waiting, timeout_ms=30_000)
                log.info("created topics %s", sorted(waiting))
    finally:
        admin.close()


def _not_authorized(result: Mapping[str, Any]) -> list[str]:
    codes = {TopicAuthorizationFailedError.errno, ClusterAuthorizationFailedError.errno}
    return sorted(t["name"] for t in result.get("topics", []) if t.get("error_code") in codes)

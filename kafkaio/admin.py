"""Topic creation on start-up, shared by the gateway and the connectors."""

import logging
from collections.abc import Mapping
from typing import Any

from kafka.admin import KafkaAdminClient

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
            admin.create_topics(missing, raise_errors=False)
            admin.wait_for_topics(list(missing), timeout_ms=30_000)
            log.info("created topics %s", sorted(missing))
    finally:
        admin.close()

"""Topic creation on start-up, shared by the gateway and the connectors."""

import logging
from collections.abc import Mapping
from typing import Any

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import ClusterAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

log = logging.getLogger(__name__)


def ensure_topics(
    client_config: Mapping[str, Any],
    topics: Mapping[str, int],
    *,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Create the topics (name -> partitions) that do not exist yet and wait until they have leaders;
    `configs` (name -> topic configs, e.g. the audit topic's retention) are set on new and existing ones."""
    configs = configs or {}
    admin = KafkaAdminClient(**client_config)
    try:
        existing = set(admin.list_topics())
        missing = {
            name: {
                "num_partitions": partitions,
                "replication_factor": -1,
                "configs": dict(configs.get(name, {})),
            }
            for name, partitions in topics.items()
            if name not in existing
        }
        if present := {name: c for name, c in configs.items() if name in existing and c}:
            _set_configs(admin, present)
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


def _set_configs(admin: KafkaAdminClient, configs: Mapping[str, Mapping[str, str]]) -> None:
    """Set topic configs on existing topics (incremental: other configs of the topic stay as they are).

    A topic made by an older release keeps the broker's default retention (24 h for the audit topic)
    unless this converges it; a principal without AlterConfigs (secured profile) logs and goes on.
    """
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, name, configs=dict(c)) for name, c in configs.items()
    ]
    try:
        result = admin.alter_configs(resources)
    except KafkaError as exc:
        log.warning("could not set configs %s: %s (the operator sets them)", dict(configs), exc)
        return
    # A refusal per topic comes back in the result, not as an exception: say it, or it is lost.
    for name, outcome in result.get("topic", {}).items():
        if outcome != "OK":
            log.warning("could not set configs on %s: %s (the operator sets them)", name, outcome)


def _not_authorized(result: Mapping[str, Any]) -> list[str]:
    codes = {TopicAuthorizationFailedError.errno, ClusterAuthorizationFailedError.errno}
    return sorted(t["name"] for t in result.get("topics", []) if t.get("error_code") in codes)

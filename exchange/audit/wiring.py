"""Choose the gateway's audit path from its settings (called by the app factory's lifespan)."""

from sqlalchemy import Engine

from exchange.audit.publisher import AuditPublisher
from exchange.audit.settings import AuditSettings
from exchange.audit.store import CheckpointPolicy
from exchange.audit.writer import AuditWriter


def policy_of(settings: AuditSettings) -> CheckpointPolicy:
    """The checkpoint policy the settings ask for."""
    return CheckpointPolicy(every=settings.checkpoint_every, interval_s=settings.checkpoint_interval_s)


def build_audit_path(
    *,
    audit: AuditSettings,
    engine: Engine,
    transport: str,
    kafka_config: dict[str, object],
    gateway_id: str,
    max_batch: int,
    topic: str,
) -> AuditWriter | AuditPublisher:
    """Kafka mode: publish to the audit `topic` for the sealer (`kafka_config`: the audit path's
    connection, GatewaySettings.audit_kafka_config); embedded mode: chain in-process."""
    if audit.uses_kafka(transport):
        # The gateway holds no audit key in this mode: only the sealer signs checkpoints.
        records = AuditWriter(engine, key=None, max_batch=max_batch)
        return AuditPublisher(
            kafka_config,
            records,
            topic=topic,
            partitions=audit.partitions,
            gateway_id=gateway_id,
            delivery_timeout_s=audit.delivery_timeout_s,
            topic_configs=audit.topic_configs(),
        )
    key = audit.signing_pair()
    return AuditWriter(engine, key=key, policy=policy_of(audit), max_batch=max_batch)

"""Kafka ACLs of the secured profile, generated from the department list (docs/security.md, "Kafka ACLs").

Least privilege per principal (principal = the CN of the client certificate, `User:<CN>`):

Every name is the deployment's namespace's (protocol/topics.py `KafkaNames`, `<ns>.` below; `shuyuan` by
default), so each deployment on a shared broker gets ACLs on its own names only.

- gateway: writes every request topic (prefix `<ns>.req.`), the audit topic and the registry topic;
  reads its reply partition and the registry topic by assignment (no consumer group); creates the topics
  it ensures at start-up (request topics, replies, dead letters, audit, registry), so a department added
  at run time gets its request topic from the gateway.
- connector of D: reads `<ns>.req.D` in group `<ns>.connector.D`; writes replies and dead letters.
- sealer: reads the audit topic in its group; writes dead letters.

No principal gets IDEMPOTENT_WRITE on the cluster: since Kafka 3.0 (KIP-679) WRITE on a topic is enough
for an idempotent producer. Everything else is denied (`allow.everyone.if.no.acl.found=false`).
"""

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.errors import NoError

from protocol.topics import DEFAULT, KafkaNames

log = logging.getLogger(__name__)

ResourceKind = Literal["topic", "group"]
PatternKind = Literal["literal", "prefixed"]
Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE"]

GATEWAY_PRINCIPAL = "gateway"
SEALER_PRINCIPAL = "audit-sealer"


def connector_principal(department: str) -> str:
    """The certificate CN (and Kafka user) of a department's connector: `connector-<dept>`."""
    return f"connector-{department}"


@dataclass(frozen=True, order=True)
class AclBinding:
    """One ACL: `principal` may (allow) or may not do `operation` on the named resource."""

    principal: str
    resource_type: ResourceKind
    name: str
    pattern: PatternKind
    operation: Operation
    allow: bool = True

    def __str__(self) -> str:
        verb = "ALLOW" if self.allow else "DENY"
        return f"{verb} {self.principal} {self.operation} {self.resource_type}:{self.pattern}:{self.name}"


def _user(name: str) -> str:
    if not name or name.startswith("User:") or "," in name:
        raise ValueError(f"give the certificate CN, not a principal or DN: {name!r}")
    return f"User:{name}"


def _grant(
    principal: str, kind: ResourceKind, name: str, ops: Iterable[Operation], pattern: PatternKind = "literal"
) -> list[AclBinding]:
    return [AclBinding(principal, kind, name, pattern, op) for op in ops]


def bindings(
    *,
    departments: Iterable[str],
    gateways: Sequence[str] = (GATEWAY_PRINCIPAL,),
    sealers: Sequence[str] = (SEALER_PRINCIPAL,),
    connectors: Mapping[str, str] | None = None,
    names: KafkaNames = DEFAULT,
) -> list[AclBinding]:
    """The ACLs for these departments and principals (CNs), sorted; `connectors` maps dept -> CN."""
    result: list[AclBinding] = []
    for gw in map(_user, gateways):
        result += _grant(gw, "topic", names.request_prefix, ("WRITE", "CREATE"), "prefixed")
        # Events: the gateway alone writes every department's copy (docs/events.md).
        result += _grant(gw, "topic", names.event_prefix, ("WRITE", "CREATE"), "prefixed")
        result += _grant(gw, "topic", names.audit_topic, ("WRITE", "CREATE"))
        result += _grant(gw, "topic", names.registry_topic, ("WRITE", "READ", "CREATE"))
        result += _grant(gw, "topic", names.reply_topic, ("READ", "CREATE"))
        # The gateway creates the dead-letter topic and reads it in its one group, to audit every
        # dead letter (exchange/dead_letters.py); it never writes there.
        result += _grant(gw, "topic", names.dlq_topic, ("CREATE", "DESCRIBE", "READ"))
        result += _grant(gw, "group", names.dead_letter_group, ("READ",))
    for sealer in map(_user, sealers):
        result += _grant(sealer, "topic", names.audit_topic, ("READ",))
        result += _grant(sealer, "group", names.sealer_group, ("READ",))
        result += _grant(sealer, "topic", names.dlq_topic, ("WRITE",))
    cns = dict(connectors or {})
    for dept in sorted(set(departments)):
        principal = _user(cns.get(dept, connector_principal(dept)))
        result += _grant(principal, "topic", names.request_topic(dept), ("READ",))
        result += _grant(principal, "group", names.connector_group(dept), ("READ",))
        result += _grant(principal, "topic", names.event_topic(dept), ("READ",))
        result += _grant(principal, "group", names.event_group(dept), ("READ",))
        result += _grant(principal, "topic", names.reply_topic, ("WRITE",))
        result += _grant(principal, "topic", names.dlq_topic, ("WRITE",))
    return sorted(set(result))


_KINDS: dict[ResourceKind, ResourceType] = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
_PATTERNS: dict[PatternKind, ACLResourcePatternType] = {
    "literal": ACLResourcePatternType.LITERAL,
    "prefixed": ACLResourcePatternType.PREFIXED,
}
_KIND_OF: dict[ResourceType, ResourceKind] = {v: k for k, v in _KINDS.items()}
_PATTERN_OF: dict[ACLResourcePatternType, PatternKind] = {v: k for k, v in _PATTERNS.items()}


def to_kafka(binding: AclBinding) -> ACL:
    """The kafka-python ACL of a binding (any host)."""
    return ACL(
        principal=binding.principal,
        host="*",
        operation=ACLOperation[binding.operation],
        permission_type=ACLPermissionType.ALLOW if binding.allow else ACLPermissionType.DENY,
        resource_pattern=ResourcePattern(
            _KINDS[binding.resource_type], binding.name, _PATTERNS[binding.pattern]
        ),
    )


def from_kafka(acl: ACL) -> AclBinding | None:
    """The binding of a broker ACL, or None when it is not of a shape this module writes."""
    pattern = acl.resource_pattern
    op = acl.operation.name
    if (
        acl.host != "*"
        or pattern.resource_type not in _KIND_OF
        or pattern.pattern_type not in _PATTERN_OF
        or op not in ("READ", "WRITE", "CREATE", "DESCRIBE")
    ):
        return None
    return AclBinding(
        acl.principal,
        _KIND_OF[pattern.resource_type],
        pattern.resource_name,
        _PATTERN_OF[pattern.pattern_type],
        op,
        acl.permission_type == ACLPermissionType.ALLOW,
    )


@dataclass(frozen=True)
class AclChanges:
    """What `apply` did: bindings created, and stale ones deleted (with `prune`) or left (without)."""

    created: list[AclBinding]
    stale: list[AclBinding]
    deleted: list[AclBinding]


def _existing(admin: KafkaAdminClient) -> list[ACL]:
    everything = ACLFilter(
        principal=None,
        host=None,
        operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
    )
    acls, _ = admin.describe_acls(everything)
    return list(acls)


def _managed(acl: ACL, names: KafkaNames) -> bool:
    # Only this namespace's names: another deployment's ACLs on the same broker are never touched.
    pattern = acl.resource_pattern
    return pattern.resource_type in _KINDS.values() and str(pattern.resource_name).startswith(names.prefix)


def apply(
    client_config: Mapping[str, Any],
    wanted: Sequence[AclBinding],
    *,
    prune: bool = False,
    names: KafkaNames = DEFAULT,
) -> AclChanges:
    """Create the missing bindings; with `prune`, delete ACLs on `<ns>.*` resources not wanted."""
    admin = KafkaAdminClient(**client_config)
    try:
        existing = _existing(admin)
        have = {b for b in map(from_kafka, existing) if b is not None}
        missing = sorted(set(wanted) - have)
        if missing:
            result = admin.create_acls([to_kafka(b) for b in missing])
            if result["failed"]:
                raise RuntimeError(f"the broker refused ACLs: {result['failed']}")
        # Only ACLs of a shape this module writes, on `<ns>.*` names: an operator's own ACLs stay.
        keep = set(wanted)
        stale_acls = [
            a for a in existing if _managed(a, names) and (b := from_kafka(a)) is not None and b not in keep
        ]
        stale = sorted(b for b in map(from_kafka, stale_acls) if b is not None)
        deleted: list[AclBinding] = []
        if prune and stale_acls:
            for _, matched, error in admin.delete_acls(stale_acls):
                if error is not NoError:
                    raise RuntimeError(f"the broker refused to delete ACLs: {error.__name__}")
                deleted += [b for b in map(from_kafka, matched) if b is not None]
        log.info("ACLs: %d created, %d stale, %d deleted", len(missing), len(stale), len(deleted))
        return AclChanges(created=missing, stale=stale, deleted=sorted(deleted))
    finally:
        admin.close()

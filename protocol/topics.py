"""Kafka topic and consumer-group names of one deployment (DESIGN.md §7): the one naming rule.

Every name starts with the deployment's namespace and a dot, so deployments sharing a broker never
share a topic or a group. The default namespace `shuyuan` gives the names every deployment had before
namespaces existed, byte for byte.
"""

import re
from dataclasses import dataclass

DEFAULT_NAMESPACE = "shuyuan"
# A short lowercase code without dots or underscores: then `<ns>.` of two namespaces never prefixes the
# other's names (a prefixed ACL or an ACL prune of one cannot reach another deployment), no name collides
# with another in Kafka's metric names (which fold `.` and `_` together), and the longest name
# (`<ns>.connector.<dept>`) stays far below Kafka's 249-character limit.
NAMESPACE_PATTERN = r"^[a-z][a-z0-9-]{0,30}$"
_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_DEPT_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


def _department(code: str) -> str:
    if not _DEPT_CODE.match(code):
        raise ValueError(f"not a department code: {code!r}")
    return code


@dataclass(frozen=True)
class KafkaNames:
    """Every topic and consumer-group name of the deployment in `namespace`."""

    namespace: str = DEFAULT_NAMESPACE

    def __post_init__(self) -> None:
        if not _NAMESPACE.match(self.namespace):
            raise ValueError(
                f"not a Kafka namespace: {self.namespace!r} (lowercase letters, digits and '-', "
                "starting with a letter, at most 31 characters)"
            )

    @property
    def prefix(self) -> str:
        """What every name of this namespace starts with (`<ns>.`)."""
        return f"{self.namespace}."

    @property
    def request_prefix(self) -> str:
        """What every request topic starts with (`<ns>.req.`), for prefixed ACLs."""
        return f"{self.namespace}.req."

    def request_topic(self, department: str) -> str:
        """The topic a source department's connector serves."""
        return f"{self.request_prefix}{_department(department)}"

    @property
    def event_prefix(self) -> str:
        """What every event topic starts with (`<ns>.evt.`), for prefixed ACLs."""
        return f"{self.namespace}.evt."

    def event_topic(self, department: str) -> str:
        """The topic a subscriber department receives its copies of events on (docs/events.md)."""
        return f"{self.event_prefix}{_department(department)}"

    def event_group(self, department: str) -> str:
        """The consumer group of a department's event subscribers (apart from its request group)."""
        return f"{self.namespace}.events.{_department(department)}"

    @property
    def reply_topic(self) -> str:
        """The one reply topic; each gateway instance reads its own partition."""
        return f"{self.namespace}.rep"

    @property
    def audit_topic(self) -> str:
        """Audit events, published by the gateways and chained by the sealer."""
        return f"{self.namespace}.audit"

    @property
    def dlq_topic(self) -> str:
        """Dead letters: requests a connector refused, audit events the sealer could not parse."""
        return f"{self.namespace}.dlq"

    @property
    def registry_topic(self) -> str:
        """Registry change events, read by every gateway."""
        return f"{self.namespace}.registry"

    def connector_group(self, department: str) -> str:
        """The consumer group of a department's connector instances."""
        return f"{self.namespace}.connector.{_department(department)}"

    @property
    def sealer_group(self) -> str:
        """The consumer group of the audit sealers."""
        return f"{self.namespace}.audit.sealer"

    @property
    def dead_letter_group(self) -> str:
        """The one group every gateway instance reads the dead-letter topic in (exchange/dead_letters.py)."""
        return f"{self.namespace}.gateway.dead-letters"


DEFAULT = KafkaNames()

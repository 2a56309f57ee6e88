"""Kafka topic names (DESIGN.md §7)."""

import re

REPLY_TOPIC = "shuyuan.rep"
AUDIT_TOPIC = "shuyuan.audit"
DLQ_TOPIC = "shuyuan.dlq"
REGISTRY_TOPIC = "shuyuan.registry"
# The one consumer group of every gateway instance on the dead-letter topic (exchange/dead_letters.py).
DEAD_LETTER_GROUP = "shuyuan.gateway.dead-letters"

_DEPT_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


def request_topic(department: str) -> str:
    """The topic a source department's connector serves."""
    if not _DEPT_CODE.match(department):
        raise ValueError(f"not a department code: {department!r}")
    return f"shuyuan.req.{department}"

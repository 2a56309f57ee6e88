"""Sealer lag: how many audit events the broker holds that the sealer has not chained yet.

The gateway's readiness (`/readyz`) fails beyond `SHUYUAN_AUDIT_SEALER_MAX_LAG`, so that a sealer that
died or cannot keep up is noticed long before the audit topic's retention could drop an event of an
answer already released (issue: a sealer once died silently while the gateway went on answering).
The figure is the broker's: the topic's end offsets minus the sealer group's committed offsets.
"""

import contextlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from kafka.errors import CoordinatorNotAvailableError, KafkaError


@dataclass(frozen=True)
class SealerLag:
    """Events published and not yet sealed, over every partition of the audit topic."""

    events: int
    partitions: int


def measure_lag(admin: KafkaAdminClient, topic: str, group: str) -> SealerLag:
    """End offsets of `topic` minus what `group` committed (a partition never committed counts whole)."""
    (described,) = admin.describe_topics([topic])
    if described["error_code"]:
        raise KafkaError(f"audit topic {topic!r}: error code {described['error_code']}")
    partitions = [TopicPartition(topic, p["partition_index"]) for p in described["partitions"]]
    ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
    try:
        committed = admin.list_group_offsets({group: partitions}).get(group, {})
    except CoordinatorNotAvailableError:
        # No group has ever committed on this broker (no offsets topic yet): the sealer never ran.
        committed = {}
    behind = 0
    for tp in partitions:
        done = committed.get(tp)
        position = done.offset if done is not None and done.offset >= 0 else _earliest(admin, tp)
        behind += max(0, ends[tp].offset - position)
    return SealerLag(events=behind, partitions=len(partitions))


def _earliest(admin: KafkaAdminClient, tp: TopicPartition) -> int:
    return int(admin.list_partition_offsets({tp: OffsetSpec.EARLIEST})[tp].offset)


class SealerLagProbe:
    """Measures the lag at most every `cache_s` seconds with one long-lived admin client (thread-safe)."""

    def __init__(
        self, client_config: Mapping[str, Any], *, topic: str, group: str, cache_s: float = 2.0
    ) -> None:
        self._config = dict(client_config) | {"request_timeout_ms": 3000}
        self._topic = topic
        self._group = group
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._admin: KafkaAdminClient | None = None
        self._last: tuple[float, SealerLag] | None = None

    def lag(self) -> SealerLag:
        """The current lag (cached briefly); raises the client's error when the broker does not answer."""
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self._cache_s:
                return self._last[1]
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(**self._config)
                lag = measure_lag(self._admin, self._topic, self._group)
            except Exception:
                self.close()  # a fresh client next time: fresh metadata after a broker restart
                raise
            self._last = (time.monotonic(), lag)
            return lag

    def close(self) -> None:
        """Close the admin client (a later call opens a new one)."""
        if self._admin is not None:
            admin, self._admin = self._admin, None
            with contextlib.suppress(Exception):  # closing a broken client: nothing more to do
                admin.close()

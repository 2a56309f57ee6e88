"""Offset commits that survive consumer-group rebalances.

A commit fails routinely while the group rebalances (`RebalanceInProgressError`, and
`CommitFailedError` / `IllegalGenerationError` / `UnknownMemberIdError` once a new generation formed):
every start of a second member causes one. That is never a reason to stop serving. The work whose
offsets could not be committed is done and its effects are idempotent (the sealer dedupes by event id,
the gateway drops a second reply), so the commit is kept and retried for the partitions this member
still owns; the partitions it lost are redelivered to their new owner, which repeats harmlessly.
"""

import logging
from collections.abc import Mapping

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

log = logging.getLogger(__name__)


class PendingCommits:
    """Offsets done but not yet committed; `commit` commits them, keeping what a rebalance refused."""

    def __init__(self) -> None:
        self._offsets: dict[TopicPartition, int] = {}
        self.failures = 0

    def add(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Remember the next offset to read of each partition (the last handled offset + 1)."""
        for tp, offset in offsets.items():
            self._offsets[tp] = max(offset, self._offsets.get(tp, 0))

    @property
    def pending(self) -> dict[TopicPartition, int]:
        """The offsets not yet committed."""
        return dict(self._offsets)

    def commit(self, consumer: KafkaConsumer) -> bool:
        """Commit what is pending for partitions still assigned; False (and kept) if the group refused."""
        owned = consumer.assignment()
        # A partition that moved to another member during a rebalance is theirs now: its uncommitted
        # records are redelivered there, and committing for it from here would be refused anyway.
        self._offsets = {tp: o for tp, o in self._offsets.items() if tp in owned}
        if not self._offsets:
            return True
        try:
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in self._offsets.items()})
        except KafkaError as exc:  # the rebalance family, and a coordinator that moved or timed out
            self.failures += 1
            log.warning("offset commit refused (%s); retrying after the next poll", type(exc).__name__)
            return False
        self._offsets = {}
        return True

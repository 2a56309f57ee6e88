"""Offset commits refused by a rebalance are kept and retried, never fatal (kafkaio/commit.py)."""

from typing import Any

import pytest
from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import CommitFailedError, IllegalGenerationError, RebalanceInProgressError

from kafkaio.commit import PendingCommits

A0 = TopicPartition("t", 0)
A1 = TopicPartition("t", 1)


class GroupMember:
    """The two calls PendingCommits makes of a KafkaConsumer, answering as a rebalancing group does."""

    def __init__(self, assignment: set[TopicPartition], refusals: list[Exception]) -> None:
        self.owned = assignment
        self.refusals = refusals
        self.committed: list[dict[TopicPartition, Any]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        if self.refusals:
            raise self.refusals.pop(0)
        self.committed.append(offsets)


@pytest.mark.parametrize(
    "refusal",
    [RebalanceInProgressError(), CommitFailedError("group rebalanced"), IllegalGenerationError()],
    ids=["rebalance_in_progress", "commit_failed", "illegal_generation"],
)
def test_a_refused_commit_is_kept_and_retried(refusal: Exception) -> None:
    member = GroupMember({A0, A1}, [refusal])
    commits = PendingCommits()
    commits.add({A0: 10, A1: 4})
    assert commits.commit(member) is False  # type: ignore[arg-type]
    assert commits.pending == {A0: 10, A1: 4} and commits.failures == 1
    assert commits.commit(member) is True  # type: ignore[arg-type]
    assert member.committed == [{A0: OffsetAndMetadata(10, "", -1), A1: OffsetAndMetadata(4, "", -1)}]
    assert commits.pending == {}


def test_offsets_of_a_partition_lost_in_the_rebalance_are_dropped() -> None:
    member = GroupMember({A0, A1}, [RebalanceInProgressError()])
    commits = PendingCommits()
    commits.add({A0: 10, A1: 4})
    commits.commit(member)  # type: ignore[arg-type]
    member.owned = {A0}  # A1 moved to the new member, which will read it from its committed offset
    assert commits.commit(member) is True  # type: ignore[arg-type]
    assert member.committed == [{A0: OffsetAndMetadata(10, "", -1)}]


def test_later_work_moves_the_offset_forward_never_back() -> None:
    commits = PendingCommits()
    commits.add({A0: 10})
    commits.add({A0: 7})
    commits.add({A0: 12})
    assert commits.pending == {A0: 12}


def test_nothing_pending_commits_nothing() -> None:
    member = GroupMember({A0}, [RebalanceInProgressError()])
    assert PendingCommits().commit(member) is True  # type: ignore[arg-type]
    assert member.refusals, "no commit was attempted"

"""Kafka names of a deployment: the default namespace keeps every name, others prefix each one."""

import dataclasses

import pytest

from protocol.topics import DEFAULT, KafkaNames


def test_the_default_namespace_keeps_every_name_byte_for_byte() -> None:
    assert KafkaNames() == DEFAULT
    assert DEFAULT.request_topic("psb") == "shuyuan.req.psb"
    assert DEFAULT.request_prefix == "shuyuan.req."
    assert DEFAULT.reply_topic == "shuyuan.rep"
    assert DEFAULT.audit_topic == "shuyuan.audit"
    assert DEFAULT.dlq_topic == "shuyuan.dlq"
    assert DEFAULT.registry_topic == "shuyuan.registry"
    assert DEFAULT.connector_group("psb") == "shuyuan.connector.psb"
    assert DEFAULT.sealer_group == "shuyuan.audit.sealer"
    assert DEFAULT.dead_letter_group == "shuyuan.gateway.dead-letters"


def test_another_namespace_prefixes_every_topic_and_group() -> None:
    names = KafkaNames("city-b")
    every = [
        names.request_topic("hrss"),
        names.reply_topic,
        names.audit_topic,
        names.dlq_topic,
        names.registry_topic,
        names.connector_group("hrss"),
        names.sealer_group,
        names.dead_letter_group,
    ]
    assert all(n.startswith("city-b.") for n in every)
    assert [n.removeprefix("city-b.") for n in every] == [
        n.removeprefix("shuyuan.")
        for n in (
            DEFAULT.request_topic("hrss"),
            DEFAULT.reply_topic,
            DEFAULT.audit_topic,
            DEFAULT.dlq_topic,
            DEFAULT.registry_topic,
            DEFAULT.connector_group("hrss"),
            DEFAULT.sealer_group,
            DEFAULT.dead_letter_group,
        )
    ]


@pytest.mark.parametrize(
    "namespace",
    ["", "Shuyuan", "1city", "-city", "city.b", "city_b", "city b", "a" * 32, "shuyuan.req", "城市"],
)
def test_a_namespace_is_a_short_lowercase_code(namespace: str) -> None:
    with pytest.raises(ValueError, match="not a Kafka namespace"):
        KafkaNames(namespace)


def test_the_longest_namespace_is_accepted_and_names_are_frozen() -> None:
    names = KafkaNames("a" * 31)
    assert names.reply_topic == "a" * 31 + ".rep"
    with pytest.raises(dataclasses.FrozenInstanceError):
        names.namespace = "other"  # type: ignore[misc]


@pytest.mark.parametrize("department", ["PSB", "p", "psb.x", "psb;*", ""])
def test_a_department_code_is_checked(department: str) -> None:
    with pytest.raises(ValueError, match="department code"):
        DEFAULT.request_topic(department)
    with pytest.raises(ValueError, match="department code"):
        DEFAULT.connector_group(department)


def test_event_topics_and_groups_are_per_department_and_in_the_namespace() -> None:
    assert DEFAULT.event_topic("amr") == "shuyuan.evt.amr"
    assert DEFAULT.event_group("amr") == "shuyuan.events.amr"
    assert DEFAULT.event_topic("amr").startswith(DEFAULT.event_prefix)
    names = KafkaNames("city-b")
    assert (names.event_topic("amr"), names.event_group("amr")) == ("city-b.evt.amr", "city-b.events.amr")
    # An event group is never a request group: the two consumers of a department never share partitions.
    assert DEFAULT.event_group("amr") != DEFAULT.connector_group("amr")
    with pytest.raises(ValueError, match="department code"):
        DEFAULT.event_topic("AMR;*")

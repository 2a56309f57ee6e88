"""The ACL bindings of the secured profile, as a pure function of the department list (no broker)."""

import pytest
from kafka.admin import ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourceType

from kafkaio.acls import AclBinding, bindings, from_kafka, to_kafka
from protocol.topics import DEFAULT, KafkaNames

ACLS = bindings(departments=["psb", "hrss"])


def _of(principal: str) -> set[tuple[str, str, str, str]]:
    return {(b.resource_type, b.pattern, b.name, b.operation) for b in ACLS if b.principal == principal}


def test_a_connector_reads_only_its_own_requests_and_writes_only_replies_and_dead_letters() -> None:
    assert _of("User:connector-psb") == {
        ("topic", "literal", "shuyuan.req.psb", "READ"),
        ("group", "literal", "shuyuan.connector.psb", "READ"),
        ("topic", "literal", "shuyuan.evt.psb", "READ"),
        ("group", "literal", "shuyuan.events.psb", "READ"),
        ("topic", "literal", DEFAULT.reply_topic, "WRITE"),
        ("topic", "literal", DEFAULT.dlq_topic, "WRITE"),
    }
    assert DEFAULT.connector_group("psb") == "shuyuan.connector.psb"


def test_the_gateway_alone_writes_requests_and_audit_and_only_the_sealer_reads_audit() -> None:
    writers = {b.principal for b in ACLS if b.operation == "WRITE" and b.name.startswith("shuyuan.req.")}
    assert writers == {"User:gateway"}
    assert {b.principal for b in ACLS if b.operation == "WRITE" and b.name == DEFAULT.audit_topic} == {
        "User:gateway"
    }
    assert {b.principal for b in ACLS if b.operation == "READ" and b.name == DEFAULT.audit_topic} == {
        "User:audit-sealer"
    }
    assert ("topic", "prefixed", "shuyuan.req.", "WRITE") in _of("User:gateway")
    assert ("topic", "literal", DEFAULT.reply_topic, "READ") in _of("User:gateway")
    assert {("topic", "literal", DEFAULT.registry_topic, op) for op in ("READ", "WRITE")} <= _of(
        "User:gateway"
    )
    # It reads its reply partition by assignment: no consumer group at all.
    # Its one group: the dead letters it audits (exchange/dead_letters.py).
    gateway_groups = {b.name for b in ACLS if b.principal == "User:gateway" and b.resource_type == "group"}
    assert gateway_groups == {DEFAULT.dead_letter_group}


def test_the_gateway_alone_writes_event_topics_and_each_department_reads_only_its_own() -> None:
    writers = {b.principal for b in ACLS if b.operation == "WRITE" and b.name.startswith("shuyuan.evt.")}
    assert writers == {"User:gateway"}
    assert ("topic", "prefixed", "shuyuan.evt.", "WRITE") in _of("User:gateway")
    readers = {(b.principal, b.name) for b in ACLS if b.operation == "READ" and "evt" in b.name}
    assert readers == {("User:connector-psb", "shuyuan.evt.psb"), ("User:connector-hrss", "shuyuan.evt.hrss")}
    assert DEFAULT.event_topic("psb") == "shuyuan.evt.psb"
    assert DEFAULT.event_group("psb") == "shuyuan.events.psb"


def test_the_sealer_reads_the_audit_topic_in_its_group_and_writes_dead_letters() -> None:
    assert _of("User:audit-sealer") == {
        ("topic", "literal", DEFAULT.audit_topic, "READ"),
        ("group", "literal", "shuyuan.audit.sealer", "READ"),
        ("topic", "literal", DEFAULT.dlq_topic, "WRITE"),
    }


def test_least_privilege_no_wildcards_no_cluster_rights_no_denies() -> None:
    assert all(b.allow for b in ACLS)
    assert all(b.name.startswith("shuyuan.") for b in ACLS)
    assert not [b for b in ACLS if b.pattern == "prefixed" and b.principal != "User:gateway"]
    assert {b.operation for b in ACLS} <= {"READ", "WRITE", "CREATE", "DESCRIBE"}
    # Only the gateway creates topics (docs/security.md): connectors and the sealer wait for them.
    assert {b.principal for b in ACLS if b.operation == "CREATE"} == {"User:gateway"}


def test_sorted_deduplicated_and_only_as_many_as_the_departments_need() -> None:
    again = bindings(departments=["hrss", "psb", "psb"])
    assert again == ACLS == sorted(ACLS)
    assert len(bindings(departments=["psb", "hrss", "zjj"])) == len(ACLS) + 6


def test_principals_can_be_renamed() -> None:
    renamed = bindings(
        departments=["psb"], gateways=["gw-a", "gw-b"], sealers=[], connectors={"psb": "psb-conn"}
    )
    principals = {b.principal for b in renamed}
    assert principals == {"User:gw-a", "User:gw-b", "User:psb-conn"}


def test_a_namespace_gets_acls_on_its_own_names_only() -> None:
    ns = bindings(departments=["psb", "hrss"], names=KafkaNames("city-b"))
    assert all(b.name.startswith("city-b.") for b in ns)
    # The same shape as the default namespace's, name for name.
    assert [(b.principal, b.name.replace("city-b.", "shuyuan.", 1)) for b in ns] == [
        (b.principal, b.name) for b in ACLS
    ]
    assert ("topic", "prefixed", "city-b.req.", "WRITE") in {
        (b.resource_type, b.pattern, b.name, b.operation) for b in ns if b.principal == "User:gateway"
    }
    assert ("group", "literal", "city-b.audit.sealer", "READ") in {
        (b.resource_type, b.pattern, b.name, b.operation) for b in ns if b.principal == "User:audit-sealer"
    }


@pytest.mark.parametrize("name", ["", "User:gateway", "CN=gateway,O=Shuyuan"])
def test_a_principal_is_given_as_the_certificate_cn(name: str) -> None:
    with pytest.raises(ValueError, match="CN"):
        bindings(departments=[], gateways=[name])


def test_a_department_code_is_checked() -> None:
    with pytest.raises(ValueError, match="department code"):
        bindings(departments=["PSB;*"])


def test_the_kafka_python_form_round_trips() -> None:
    prefixed = AclBinding("User:gateway", "topic", "shuyuan.req.", "prefixed", "WRITE")
    acl = to_kafka(prefixed)
    assert acl.host == "*"
    assert acl.operation is ACLOperation.WRITE
    assert acl.permission_type is ACLPermissionType.ALLOW
    assert acl.resource_pattern.resource_type is ResourceType.TOPIC
    assert acl.resource_pattern.pattern_type is ACLResourcePatternType.PREFIXED
    assert [from_kafka(to_kafka(b)) for b in ACLS] == ACLS
    assert str(prefixed) == "ALLOW User:gateway WRITE topic:prefixed:shuyuan.req."

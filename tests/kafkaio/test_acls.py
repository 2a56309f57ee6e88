"""The ACL bindings of the secured profile, as a pure function of the department list (no broker)."""

import pytest
from kafka.admin import ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourceType

from kafkaio.acls import AclBinding, bindings, connector_group, from_kafka, to_kafka
from protocol.topics import AUDIT_TOPIC, DEAD_LETTER_GROUP, DLQ_TOPIC, REGISTRY_TOPIC, REPLY_TOPIC

ACLS = bindings(departments=["psb", "hrss"])


def _of(principal: str) -> set[tuple[str, str, str, str]]:
    return {(b.resource_type, b.pattern, b.name, b.operation) for b in ACLS if b.principal == principal}


def test_a_connector_reads_only_its_own_requests_and_writes_only_replies_and_dead_letters() -> None:
    assert _of("User:connector-psb") == {
        ("topic", "literal", "shuyuan.req.psb", "READ"),
        ("group", "literal", "shuyuan.connector.psb", "READ"),
        ("topic", "literal", REPLY_TOPIC, "WRITE"),
        ("topic", "literal", DLQ_TOPIC, "WRITE"),
    }
    assert connector_group("psb") == "shuyuan.connector.psb"


def test_the_gateway_alone_writes_requests_and_audit_and_only_the_sealer_reads_audit() -> None:
    writers = {b.principal for b in ACLS if b.operation == "WRITE" and b.name.startswith("shuyuan.req.")}
    assert writers == {"User:gateway"}
    assert {b.principal for b in ACLS if b.operation == "WRITE" and b.name == AUDIT_TOPIC} == {"User:gateway"}
    assert {b.principal for b in ACLS if b.operation == "READ" and b.name == AUDIT_TOPIC} == {
        "User:audit-sealer"
    }
    assert ("topic", "prefixed", "shuyuan.req.", "WRITE") in _of("User:gateway")
    assert ("topic", "literal", REPLY_TOPIC, "READ") in _of("User:gateway")
    assert {("topic", "literal", REGISTRY_TOPIC, op) for op in ("READ", "WRITE")} <= _of("User:gateway")
    # It reads its reply partition by assignment: no consumer group at all.
    # Its one group: the dead letters it audits (exchange/dead_letters.py).
    gateway_groups = {b.name for b in ACLS if b.principal == "User:gateway" and b.resource_type == "group"}
    assert gateway_groups == {DEAD_LETTER_GROUP}


def test_the_sealer_reads_the_audit_topic_in_its_group_and_writes_dead_letters() -> None:
    assert _of("User:audit-sealer") == {
        ("topic", "literal", AUDIT_TOPIC, "READ"),
        ("group", "literal", "shuyuan.audit.sealer", "READ"),
        ("topic", "literal", DLQ_TOPIC, "WRITE"),
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
    assert len(bindings(departments=["psb", "hrss", "zjj"])) == len(ACLS) + 4


def test_principals_and_topics_can_be_renamed() -> None:
    renamed = bindings(
        departments=["psb"],
        gateways=["gw-a", "gw-b"],
        sealers=[],
        connectors={"psb": "psb-conn"},
        audit_topic="ns.audit",
        sealer_group="ns.sealer",
    )
    principals = {b.principal for b in renamed}
    assert principals == {"User:gw-a", "User:gw-b", "User:psb-conn"}
    assert ("topic", "literal", "ns.audit", "WRITE") in {
        (b.resource_type, b.pattern, b.name, b.operation) for b in renamed if b.principal == "User:gw-a"
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

"""Kafka is not an open bus (issue 9, item 4): the secured profile of `deploy/kafka.sh` on a real broker.

A second, private broker (SHUYUAN_KAFKA_SECURED=1: StandardAuthorizer, no PLAINTEXT listener) is
started on free ports with its own state dir and certificates from `shuyuan pki`, so the shared test
broker is never restarted. The ACLs come from `shuyuan kafka acls` over a registry of three
departments; every refusal is paired with an allowed operation of the same client, so a test proves
the ACL and not a broken setup.
"""

import os
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    NoError,
    TopicAuthorizationFailedError,
    for_code,
)
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from kafkaio import acls
from kafkaio.admin import ensure_topics
from protocol.topics import DEFAULT, KafkaNames
from registry.db import make_engine
from registry.departments.models import Department
from shuyuan import pki
from shuyuan.cli import app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DEPARTMENTS = ("psb", "hrss", "zjj")  # zjj's request topic is never created: see the first test
CLIENTS = ("kafka-admin", "gateway", "audit-sealer", "stranger", *(f"connector-{d}" for d in DEPARTMENTS))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class SecuredBroker:
    """A running secured broker, its certificates and the environment `shuyuan kafka acls` needs."""

    pki: Path
    bootstrap: str
    plaintext_port: int
    controller_port: int
    cli_env: dict[str, str]

    def client(self, name: str) -> dict[str, object]:
        """kafka-python settings of a client authenticating with certificate `name`."""
        return {
            "bootstrap_servers": [self.bootstrap],
            "security_protocol": "SSL",
            "ssl_cafile": str(self.pki / "ca.crt"),
            "ssl_certfile": str(self.pki / f"{name}.crt"),
            "ssl_keyfile": str(self.pki / f"{name}.key"),
            "ssl_check_hostname": True,
        }


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """A secured broker with the ACLs of the registry applied, and the gateway's topics created."""
    root = tmp_path_factory.mktemp("acls")
    folder = root / "pki"
    pki.init_ca(folder)
    pki.issue("kafka-broker", kind="server", folder=folder, client_auth=True)
    for name in CLIENTS:
        pki.issue(name, kind="client", folder=folder)
    ports = {name: _free_port() for name in ("PORT", "CONTROLLER_PORT", "SSL_PORT")}
    env = (
        os.environ
        | {f"SHUYUAN_KAFKA_{k}": str(v) for k, v in ports.items()}
        | {
            "SHUYUAN_STATE_DIR": str(root / "state"),
            "SHUYUAN_KAFKA_SECURED": "1",
            "SHUYUAN_KAFKA_PKI_DIR": str(folder),
            "SHUYUAN_KAFKA_HEAP": "256m",
            "SHUYUAN_KAFKA_START_TIMEOUT": "150",
        }
    )
    script = str(ROOT / "deploy" / "kafka.sh")
    started = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=240)
    # Never a skip: a secured broker that does not start is a failure of the secured profile.
    assert started.returncode == 0, started.stderr
    try:
        database_url = f"sqlite:///{root / 'registry.db'}"
        engine = make_engine(database_url)
        SQLModel.metadata.create_all(engine, tables=[SQLModel.metadata.tables["department"]])
        with Session(engine) as session:
            session.add_all(Department(code=code, name=code.upper()) for code in DEPARTMENTS)
            session.commit()
        engine.dispose()
        bootstrap = f"127.0.0.1:{ports['SSL_PORT']}"
        cli_env = {
            "SHUYUAN_DATABASE_URL": database_url,
            "SHUYUAN_KAFKA_BOOTSTRAP": bootstrap,
            "SHUYUAN_KAFKA_SECURITY_PROTOCOL": "SSL",
            "SHUYUAN_KAFKA_SSL_CAFILE": str(folder / "ca.crt"),
            "SHUYUAN_KAFKA_SSL_CERTFILE": str(folder / "kafka-admin.crt"),
            "SHUYUAN_KAFKA_SSL_KEYFILE": str(folder / "kafka-admin.key"),
        }
        secured = SecuredBroker(folder, bootstrap, ports["PORT"], ports["CONTROLLER_PORT"], cli_env)
        applied = CliRunner().invoke(app, ["kafka", "acls"], env=cli_env)
        assert applied.exit_code == 0, applied.output
        assert "created ALLOW User:connector-psb READ topic:literal:shuyuan.req.psb" in applied.output
        yield secured
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def topics(broker: SecuredBroker) -> SecuredBroker:
    """The topics the gateway creates at start-up (its ACLs allow it), except zjj's request topic."""
    wanted = {
        DEFAULT.request_topic("psb"): 1,
        DEFAULT.request_topic("hrss"): 1,
        DEFAULT.reply_topic: 2,
        DEFAULT.dlq_topic: 1,
        DEFAULT.audit_topic: 1,
        DEFAULT.event_topic("psb"): 1,
        DEFAULT.event_topic("hrss"): 1,
    }
    ensure_topics(broker.client("gateway"), wanted)
    return broker


def _topic_names(broker: SecuredBroker) -> set[str]:
    admin = KafkaAdminClient(**broker.client("kafka-admin"))
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def _produce(broker: SecuredBroker, name: str, topic: str, value: bytes = b"{}") -> None:
    # As the processes do: idempotent (WRITE on the topic suffices since Kafka 3.0, KIP-679), acks=all.
    producer = KafkaProducer(**broker.client(name), acks="all", enable_idempotence=True, max_block_ms=20_000)
    try:
        producer.send(topic, value=value).get(timeout=20)
    finally:
        producer.close(5)


def _consume_one(
    broker: SecuredBroker, name: str, topic: str, *, group: str | None, join: bool = False
) -> bytes:
    """The first record of partition 0, read as `name`; `join` subscribes in the group instead.

    Refusals are tested with assignment (what an intruder would use): a subscription to a topic the
    client may not describe only logs and waits, with nothing to assert on.
    """
    consumer = KafkaConsumer(
        **broker.client(name), group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    try:
        if join:
            consumer.subscribe([topic])
        else:
            consumer.assign([TopicPartition(topic, 0)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                if group is not None:
                    consumer.commit()
                return bytes(records[0].value)
        raise AssertionError(f"{name} read nothing from {topic}")
    finally:
        consumer.close()


def _read_refusal(broker: SecuredBroker, name: str, topic: str) -> type[KafkaError]:
    """Why `name` may not read `topic`: it reads nothing by assignment, and the broker answers its
    metadata request for the topic with this error. (kafka-python only logs that answer and waits,
    sending no fetch without a leader, so the answer is taken from a describe with the same identity.)
    """
    consumer = KafkaConsumer(**broker.client(name), group_id=None, auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(topic, 0)])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert not consumer.poll(timeout_ms=500), f"{name} read {topic}"
    finally:
        consumer.close()
    return _describe_error(broker, name, topic)


def _describe_error(broker: SecuredBroker, name: str, topic: str) -> type[KafkaError]:
    admin = KafkaAdminClient(**broker.client(name))
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    return for_code(described["error_code"])


def test_a_connector_may_not_create_topics_and_its_start_up_does_not_fail_on_that(
    topics: SecuredBroker,
) -> None:
    started = time.monotonic()
    ensure_topics(
        topics.client("connector-zjj"),
        {DEFAULT.request_topic("zjj"): 1, DEFAULT.reply_topic: 2, DEFAULT.dlq_topic: 1},
    )
    assert time.monotonic() - started < 15  # no 30 s wait for a topic that was never created
    assert DEFAULT.request_topic("zjj") not in _topic_names(topics)
    ensure_topics(topics.client("gateway"), {DEFAULT.request_topic("zjj"): 1})  # the gateway may
    assert DEFAULT.request_topic("zjj") in _topic_names(topics)


def test_the_gateway_writes_a_request_that_only_its_department_reads(topics: SecuredBroker) -> None:
    value = uuid.uuid4().hex.encode()
    _produce(topics, "gateway", DEFAULT.request_topic("psb"), value)
    got = _consume_one(
        topics, "connector-psb", DEFAULT.request_topic("psb"), group=DEFAULT.connector_group("psb"), join=True
    )
    assert got == value


def test_a_connector_writes_replies_but_not_another_departments_requests(topics: SecuredBroker) -> None:
    _produce(topics, "connector-psb", DEFAULT.reply_topic)
    _produce(topics, "connector-psb", DEFAULT.dlq_topic)
    with pytest.raises(TopicAuthorizationFailedError) as refused:
        _produce(topics, "connector-psb", DEFAULT.request_topic("hrss"))
    assert DEFAULT.request_topic("hrss") in str(refused.value)
    with pytest.raises(TopicAuthorizationFailedError):
        _produce(topics, "connector-psb", DEFAULT.audit_topic)  # forging audit records


def test_a_connector_may_not_read_another_departments_requests(topics: SecuredBroker) -> None:
    _produce(topics, "gateway", DEFAULT.request_topic("hrss"))
    assert _consume_one(
        topics,
        "connector-hrss",
        DEFAULT.request_topic("hrss"),
        group=DEFAULT.connector_group("hrss"),
        join=True,
    )
    assert _describe_error(topics, "connector-psb", DEFAULT.request_topic("psb")) is NoError  # the control
    assert (
        _read_refusal(topics, "connector-psb", DEFAULT.request_topic("hrss")) is TopicAuthorizationFailedError
    )
    # Nor join another department's group to take its partitions over.
    with pytest.raises(GroupAuthorizationFailedError):
        _consume_one(
            topics, "connector-psb", DEFAULT.request_topic("psb"), group=DEFAULT.connector_group("hrss")
        )


def test_only_the_gateway_writes_event_copies_and_a_department_reads_only_its_own(
    topics: SecuredBroker,
) -> None:
    value = uuid.uuid4().hex.encode()
    _produce(topics, "gateway", DEFAULT.event_topic("psb"), value)
    got = _consume_one(
        topics, "connector-psb", DEFAULT.event_topic("psb"), group=DEFAULT.event_group("psb"), join=True
    )
    assert got == value
    # No department puts a copy on a topic, not even its own (a forged copy would skip the gateway).
    for topic in (DEFAULT.event_topic("hrss"), DEFAULT.event_topic("psb")):
        with pytest.raises(TopicAuthorizationFailedError):
            _produce(topics, "connector-psb", topic)
    assert (
        _read_refusal(topics, "connector-psb", DEFAULT.event_topic("hrss")) is TopicAuthorizationFailedError
    )
    with pytest.raises(GroupAuthorizationFailedError):
        _consume_one(topics, "connector-psb", DEFAULT.event_topic("psb"), group=DEFAULT.event_group("hrss"))


def test_only_the_sealer_reads_the_audit_topic(topics: SecuredBroker) -> None:
    value = uuid.uuid4().hex.encode()
    _produce(topics, "gateway", DEFAULT.audit_topic, value)
    assert (
        _consume_one(topics, "audit-sealer", DEFAULT.audit_topic, group=DEFAULT.sealer_group, join=True)
        == value
    )
    assert _read_refusal(topics, "connector-psb", DEFAULT.audit_topic) is TopicAuthorizationFailedError
    # The gateway sees the topic (it writes there), so it does fetch, and the fetch is refused.
    assert _describe_error(topics, "gateway", DEFAULT.audit_topic) is NoError
    with pytest.raises(TopicAuthorizationFailedError):
        _consume_one(topics, "gateway", DEFAULT.audit_topic, group=None)


def test_the_gateway_reads_replies_by_assignment(topics: SecuredBroker) -> None:
    value = uuid.uuid4().hex.encode()
    producer = KafkaProducer(**topics.client("connector-hrss"), acks="all", enable_idempotence=True)
    try:
        producer.send(DEFAULT.reply_topic, value=value, partition=1).get(timeout=20)
    finally:
        producer.close(5)
    consumer = KafkaConsumer(**topics.client("gateway"), group_id=None, enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(DEFAULT.reply_topic, 1)])
        consumer.seek_to_beginning()
        deadline = time.monotonic() + 30
        seen: list[bytes] = []
        while value not in seen and time.monotonic() < deadline:
            seen += [r.value for rs in consumer.poll(timeout_ms=500).values() for r in rs]
        assert value in seen
    finally:
        consumer.close()


def test_a_certificate_of_the_ca_without_acls_may_do_nothing(topics: SecuredBroker) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        _produce(topics, "stranger", DEFAULT.request_topic("psb"))
    assert _read_refusal(topics, "stranger", DEFAULT.reply_topic) is TopicAuthorizationFailedError


def test_there_is_no_plaintext_listener_and_no_anonymous_tls(broker: SecuredBroker) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", broker.plaintext_port), timeout=5).close()
    api_versions = b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x53\x59\x00\x00"
    # The controller listener (loopback) speaks TLS too: a plaintext Kafka request gets no Kafka answer.
    with socket.create_connection(("127.0.0.1", broker.controller_port), timeout=5) as raw:
        raw.sendall(api_versions)
        raw.settimeout(5)
        try:
            answer = raw.recv(8)
        except (TimeoutError, ConnectionError):
            answer = b""
        assert answer[4:8] != b"\x00\x00\x53\x59"
    host, port = broker.bootstrap.split(":")
    context = ssl.create_default_context(cafile=str(broker.pki / "ca.crt"))
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError, TimeoutError)),
        context.wrap_socket(raw, server_hostname=host) as tls_socket,
    ):
        # TLS 1.3 reports a missing client certificate on the first read after the handshake.
        tls_socket.sendall(api_versions)
        if not tls_socket.recv(8):
            raise ConnectionError("closed by the broker")


def test_reapplying_changes_nothing_and_prune_removes_a_departed_departments_acls(
    broker: SecuredBroker,
) -> None:
    again = CliRunner().invoke(app, ["kafka", "acls"], env=broker.cli_env)
    assert again.exit_code == 0, again.output
    assert "0 created, 0 deleted" in again.output
    departed = [b for b in acls.bindings(departments=["old"], gateways=[], sealers=[])]
    acls.apply(broker.client("kafka-admin"), departed)
    # Another deployment's ACLs on the same broker (namespace `other`): never this one's to prune.
    foreign = acls.bindings(departments=["psb"], names=KafkaNames("other"))
    acls.apply(broker.client("kafka-admin"), foreign, names=KafkaNames("other"))
    dry = CliRunner().invoke(app, ["kafka", "acls", "--dry-run"], env=broker.cli_env)
    assert dry.exit_code == 0, dry.output
    assert "ALLOW User:connector-psb READ group:literal:shuyuan.connector.psb" in dry.output
    assert "connector-old" not in dry.output
    pruned = CliRunner().invoke(app, ["kafka", "acls", "--prune"], env=broker.cli_env)
    assert pruned.exit_code == 0, pruned.output
    assert "deleted ALLOW User:connector-old READ topic:literal:shuyuan.req.old" in pruned.output
    # The shared reply and dead-letter ACLs of the departed connector go too; everyone else's stay.
    assert "deleted ALLOW User:connector-old WRITE topic:literal:shuyuan.rep" in pruned.output
    assert "User:connector-psb" not in pruned.output
    assert "other." not in pruned.output
    other = CliRunner().invoke(
        app, ["kafka", "acls", "--dry-run"], env=broker.cli_env | {"SHUYUAN_KAFKA_NAMESPACE": "other"}
    )
    assert other.exit_code == 0, other.output
    assert "ALLOW User:connector-psb READ group:literal:other.connector.psb" in other.output
    assert "shuyuan." not in other.output
    _produce(broker, "connector-psb", DEFAULT.reply_topic)

"""SHUYUAN_KAFKA_NAMESPACE, the one setting of every process's Kafka names (docs/operations.md)."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.config import ConnectorConfig, KafkaConfig
from exchange.audit.settings import AuditSettings
from exchange.settings import GatewaySettings
from protocol.topics import DEFAULT, KafkaNames


def test_unset_the_gateway_keeps_the_names_it_always_had() -> None:
    assert GatewaySettings().kafka_names() == DEFAULT


def test_the_gateway_and_the_sealer_read_the_namespace_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHUYUAN_KAFKA_NAMESPACE", "city-b")
    names = GatewaySettings().kafka_names()
    assert names == KafkaNames("city-b")
    assert (names.audit_topic, names.sealer_group) == ("city-b.audit", "city-b.audit.sealer")


def test_a_namespace_that_is_not_a_short_lowercase_code_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUYUAN_KAFKA_NAMESPACE", "City.B")
    with pytest.raises(ValidationError, match="kafka_namespace"):
        GatewaySettings()


def test_the_old_audit_topic_setting_is_refused_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUYUAN_AUDIT_TOPIC", "shuyuan.audit.mine")
    with pytest.raises(ValidationError, match="SHUYUAN_KAFKA_NAMESPACE"):
        AuditSettings()


def test_a_connector_file_names_its_namespace(tmp_path: Path) -> None:
    base = {"department": "psb", "database_url": "sqlite://", "elements": {}}
    assert ConnectorConfig.model_validate(base).kafka.names() == DEFAULT
    config = ConnectorConfig.model_validate(base | {"kafka": {"namespace": "city-b"}})
    assert config.kafka.names().request_topic("psb") == "city-b.req.psb"
    with pytest.raises(ValidationError):
        KafkaConfig(namespace="city_b")

"""Separate keys for separate jobs (docs/crypto.md): what production refuses, what development derives."""

from typing import Any

import pytest

from exchange.settings import DEV_PLATFORM_KEY, GatewaySettings

GOOD: dict[str, Any] = {
    "environment": "production",
    "token_signing_key": "tok-7Yq2kRk0s9QeVw1xZ3mN5bC8dF4gH6jL",
    "request_signing_key": "req-Zt5yH8uJ1kM4nB7vC0xQ3wE6rT9yU2iO",
    "blind_index_key": "idx-Pq8wE3rT6yU1iO4pA7sD0fG2hJ5kL9zX",
    "sealing_key": "seal-Mn4bV7cX0zL3kJ6hG9fD2sA5pO8iU1yT",
    "audit": {"signing_key": "/etc/shuyuan/audit-ed25519.pem"},
    "public_url": "https://exchange.example",
    "tls_certfile": "/etc/shuyuan/tls.crt",
    "tls_keyfile": "/etc/shuyuan/tls.key",
}


def test_a_production_gateway_with_its_own_key_per_job_starts() -> None:
    settings = GatewaySettings(**GOOD)
    assert settings.blind_index_secret() != settings.sealing_secrets()[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"platform_key": "a-real-looking-platform-key-0123456789"}, "SHUYUAN_PLATFORM_KEY is a development"),
        ({"token_signing_key": None}, "SHUYUAN_TOKEN_SIGNING_KEY must be set"),
        ({"request_signing_key": None}, "SHUYUAN_REQUEST_SIGNING_KEY must be set"),
        ({"blind_index_key": None}, "SHUYUAN_BLIND_INDEX_KEY must be set"),
        ({"sealing_key": None}, "SHUYUAN_SEALING_KEY must be set"),
        ({"sealing_key": "short"}, "SHUYUAN_SEALING_KEY: a secret of at least 32"),
        ({"blind_index_key": "development-only-platform-key-change-me"}, "not a placeholder"),
        ({"sealing_key": GOOD["blind_index_key"]}, "share a secret"),
        ({"audit": {}}, "SHUYUAN_AUDIT_SIGNING_KEY must be set"),
    ],
    ids=["platform key", "no token key", "no request key", "no index key", "no sealing key", "short",
         "placeholder", "shared", "no audit key"],
)  # fmt: skip
def test_production_refuses_a_missing_placeholder_or_shared_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GatewaySettings(**(GOOD | change))


def test_a_kafka_gateway_holds_no_audit_key_and_rotation_entries_may_reuse_an_old_secret() -> None:
    kafka = GOOD | {"audit": {"path": "kafka"}, "sealing_key": "seal-new-Qw3eR6tY9uI2oP5aS8dF1gH4jK7lZ0x,"
                    + GOOD["blind_index_key"]}  # fmt: skip
    settings = GatewaySettings(**kafka)
    assert len(settings.sealing_secrets()) == 2


def test_development_derives_every_key_from_the_platform_key() -> None:
    settings = GatewaySettings()
    platform = DEV_PLATFORM_KEY.encode()
    assert settings.blind_index_secret() == platform and settings.sealing_secrets() == [platform]
    assert settings.token_signing_entries() == [DEV_PLATFORM_KEY]
    assert settings.request_signing_entries() == [DEV_PLATFORM_KEY]  # a key of its own by its label
    mine = GatewaySettings(blind_index_key="i" * 32, sealing_key="new-seal-key,old-seal-key")  # type: ignore[arg-type]
    assert mine.blind_index_secret() == b"i" * 32 and mine.sealing_secrets() == [
        b"new-seal-key",
        b"old-seal-key",
    ]


def test_the_request_key_differs_from_the_token_key_made_from_the_same_secret() -> None:
    from exchange.auth.core import token_signing_keys
    from exchange.request_signing import RequestSigner

    (token_key,) = token_signing_keys([DEV_PLATFORM_KEY])
    (request_key,) = RequestSigner.from_entries([DEV_PLATFORM_KEY]).keys
    assert token_key.kid != request_key.kid

"""The development identity provider: mounted in development and test only, never in production."""

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from console.citizen.settings import CitizenSettings
from exchange.settings import GatewaySettings
from exchange.transparency.settings import TransparencySettings
from shuyuan.app import app_state, create_app
from shuyuan.dev_idp.mount import CLIENT_ID, MOUNT_PATH, DevProviderRefused, install_dev_provider, wanted
from shuyuan.dev_idp.provider import load_or_create_key


def _production_settings() -> GatewaySettings:
    return GatewaySettings(
        environment="production",
        token_signing_key="t" * 40,  # type: ignore[arg-type]
        request_signing_key="r" * 40,  # type: ignore[arg-type]
        blind_index_key="b" * 40,  # type: ignore[arg-type]
        sealing_key="s" * 40,  # type: ignore[arg-type]
        audit={"path": "kafka"},  # type: ignore[arg-type]
        public_url="https://exchange.gov.test",
        tls_certfile="/nonexistent/cert.pem",
        tls_keyfile="/nonexistent/key.pem",
    )


def _mounts(app: FastAPI) -> list[str]:
    return [getattr(route, "path", "") for route in app.routes]


def test_production_refuses_to_mount_it() -> None:
    with pytest.raises(DevProviderRefused, match="never mounted in production"):
        install_dev_provider(
            FastAPI(),
            environment="production",
            base_url="https://x.test",
            transparency=TransparencySettings(),
        )
    assert not wanted("production", TransparencySettings(), "http://127.0.0.1:8000")


def test_a_production_gateway_without_a_provider_has_none_and_no_citizen_sign_in() -> None:
    app = create_app(
        _production_settings(),
        transparency_settings=TransparencySettings(),
        citizen_settings=CitizenSettings(environment="production", session_secret="c" * 40),  # type: ignore[arg-type]
    )
    assert MOUNT_PATH not in _mounts(app) and "/citizen" in _mounts(app)


def test_development_without_an_issuer_mounts_it_and_trusts_it(tmp_path: Path) -> None:
    settings = GatewaySettings(database_url=f"sqlite:///{tmp_path / 'g.db'}", transport="memory")
    app = create_app(settings, transparency_settings=TransparencySettings(), base_url="http://127.0.0.1:8123")
    assert MOUNT_PATH in _mounts(app)
    with TestClient(app) as client:
        metadata = client.get("/dev-idp/.well-known/openid-configuration").json()
        assert metadata["issuer"] == "http://127.0.0.1:8123/dev-idp"
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        jwks = client.get("/dev-idp/jwks").json()
        assert [k["crv"] for k in jwks["keys"]] == ["Ed25519"] and "d" not in jwks["keys"][0]
        # The gateway's verifier now trusts exactly this issuer, for the page's client id.
        state = app_state(app)
        assert state.transparency.settings.oidc_issuer == metadata["issuer"]
        assert state.transparency.settings.oidc_audience == CLIENT_ID
        # An unregistered redirect URI is told so on the provider's page, never redirected to.
        query = {"client_id": CLIENT_ID, "redirect_uri": "https://evil.example/cb", "response_type": "code"}
        assert client.get("/dev-idp/authorize", params=query).status_code == 400
        refused = client.post("/dev-idp/token", data={"grant_type": "authorization_code", "code": "nope"})
        assert refused.json()["error"] == "invalid_grant"


def test_a_configured_issuer_keeps_it_out() -> None:
    configured = TransparencySettings(oidc_issuer="https://idp.example.test", oidc_audience="a")
    local = "http://127.0.0.1:8000"
    assert not wanted("development", configured, local) and not wanted("test", configured, local)
    assert wanted("test", TransparencySettings(), local)
    # Plain http off loopback: the verifier would not fetch its keys, so it is not offered at all.
    assert not wanted("development", TransparencySettings(), "http://192.0.2.7:8000")
    assert wanted("development", TransparencySettings(), "https://dev.example.test")


def test_the_signing_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.jwk"
    first = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path).kid == first.kid

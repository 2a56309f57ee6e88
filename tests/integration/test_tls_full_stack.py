"""The whole query flow over TLS on every hop: HTTPS (with client certificates) to the gateway, and
Kafka over SSL with client-certificate authentication for the gateway and the connectors.

The broker is a second, private one started by `deploy/kafka.sh` itself (SHUYUAN_KAFKA_SSL=1) on free
ports with certificates from `shuyuan pki`, so the shared test broker is never restarted.
"""

import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from connectors.client import ConsumerClient
from shuyuan import pki, sample_systems
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import fetch_token
from tests.integration.conftest import World

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A local CA with server and client certificates, and an SSL-only-for-clients Kafka broker."""
    root = tmp_path_factory.mktemp("tls")
    folder = root / "pki"
    pki.init_ca(folder)
    pki.issue("kafka-broker", kind="server", folder=folder)
    pki.issue("gateway-https", kind="server", folder=folder)
    for name in ("gateway", "connector-psb", "connector-hrss", "zjj-housing"):
        pki.issue(name, kind="client", folder=folder)
    ports = {"SHUYUAN_KAFKA_PORT": _free_port(), "SHUYUAN_KAFKA_CONTROLLER_PORT": _free_port()}
    ssl_port = _free_port()
    env = (
        os.environ
        | {k: str(v) for k, v in ports.items()}
        | {
            "SHUYUAN_STATE_DIR": str(root / "state"),
            "SHUYUAN_KAFKA_SSL": "1",
            # TLS alone (no authorizer): the ACLs are tests/security/test_kafka_acls.py's subject.
            "SHUYUAN_KAFKA_SECURED": "0",
            "SHUYUAN_KAFKA_SSL_PORT": str(ssl_port),
            "SHUYUAN_KAFKA_PKI_DIR": str(folder),
            "SHUYUAN_KAFKA_HEAP": "256m",
            "SHUYUAN_KAFKA_START_TIMEOUT": "150",
        }
    )
    started = subprocess.run(
        [str(ROOT / "deploy" / "kafka.sh"), "start"], env=env, capture_output=True, text=True, timeout=240
    )
    assert started.returncode == 0, started.stderr
    try:
        yield {"pki": folder, "bootstrap": f"127.0.0.1:{ssl_port}"}
    finally:
        subprocess.run([str(ROOT / "deploy" / "kafka.sh"), "stop"], env=env, capture_output=True, timeout=120)


def _kafka_ssl(folder: Path, name: str, bootstrap: str) -> dict[str, object]:
    return {
        "bootstrap_servers": [bootstrap],
        "security_protocol": "SSL",
        "ssl_cafile": str(folder / "ca.crt"),
        "ssl_certfile": str(folder / f"{name}.crt"),
        "ssl_keyfile": str(folder / f"{name}.key"),
        "ssl_check_hostname": True,
    }


def test_a_query_over_https_and_kafka_ssl_with_client_certificates(world: World, tls: dict) -> None:
    folder: Path = tls["pki"]  # type: ignore[assignment]
    bootstrap: str = tls["bootstrap"]  # type: ignore[assignment]
    for dept in ("psb", "hrss"):
        world.start_connector(dept, client_config=_kafka_ssl(folder, f"connector-{dept}", bootstrap))
    tls_settings = {
        "kafka_bootstrap": bootstrap,
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": str(folder / "ca.crt"),
        "kafka_ssl_certfile": str(folder / "gateway.crt"),
        "kafka_ssl_keyfile": str(folder / "gateway.key"),
        "tls_certfile": str(folder / "gateway-https.crt"),
        "tls_keyfile": str(folder / "gateway-https.key"),
        "tls_client_ca": str(folder / "ca.crt"),
    }
    settings = world.settings(**tls_settings)
    assert settings.kafka_client_config()["security_protocol"] == "SSL"
    port = _free_port()
    config = uvicorn.Config(
        world.gateway(**tls_settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **settings.uvicorn_ssl_options(),  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name="https-gateway")
    thread.start()
    ca = str(folder / "ca.crt")
    try:
        deadline = time.monotonic() + 60
        while not server.started and time.monotonic() < deadline:
            assert thread.is_alive(), "the HTTPS gateway did not start"
            time.sleep(0.1)
        base = f"https://127.0.0.1:{port}"
        mutual = ssl.create_default_context(cafile=ca)
        mutual.load_cert_chain(str(folder / "zjj-housing.crt"), str(folder / "zjj-housing.key"))
        with httpx.Client(base_url=base, verify=mutual, timeout=30) as http:
            cid = f"zjj-housing{world.suffix}"
            token = fetch_token(http, sample_systems.key_path(world.keys_dir.parent, cid), cid)
            answer = ConsumerClient(http, keys=world.keys("zjj"), auth=token).query(
                subject_type="person",
                subject_id=world.subjects.demo_person,
                elements=["person.name", "person.household_members", "person.si_status"],
                service_item=HOUSING_ITEM,
                case_no="ZJJ-TLS-1",
                on_behalf_of="wang.fang",
            )
        assert answer.status == "complete", answer
        assert {r.source for r in answer.results} == {world.dept("psb"), world.dept("hrss")}
        # Without a client certificate the TLS handshake itself is refused; plain HTTP gets nothing.
        anonymous = ssl.create_default_context(cafile=ca)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/healthz", verify=anonymous, timeout=10)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        server.should_exit = True
        thread.join(30)


def test_the_ssl_listener_refuses_a_client_without_a_certificate(tls: dict) -> None:
    folder: Path = tls["pki"]  # type: ignore[assignment]
    host, port = str(tls["bootstrap"]).split(":")
    context = ssl.create_default_context(cafile=str(folder / "ca.crt"))  # checks the broker's name too
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        pytest.raises((ssl.SSLError, ConnectionError, TimeoutError)),
        context.wrap_socket(raw, server_hostname=host) as tls_socket,
    ):
        # TLS 1.3 reports a missing client certificate on the first read after the handshake.
        tls_socket.sendall(b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x53\x59\x00\x00")
        if not tls_socket.recv(8):
            raise ConnectionError("closed by the broker")

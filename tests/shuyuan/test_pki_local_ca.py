"""`shuyuan pki`: a local CA, server and client certificates that chain to it, private files 0600."""

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from shuyuan import pki
from shuyuan.cli import app


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_and_client_certificates_chain_to_the_ca(tmp_path: Path) -> None:
    ca = pki.init_ca(tmp_path)
    server = pki.issue("gateway", kind="server", folder=tmp_path)
    client = pki.issue("connector-psb", kind="client", folder=tmp_path)
    ca_cert = _cert(ca.cert)
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for issued, usage in (
        (server, ExtendedKeyUsageOID.SERVER_AUTH),
        (client, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        cert = _cert(issued.cert)
        cert.verify_directly_issued_by(ca_cert)  # raises if the signature or issuer is wrong
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [usage]
        assert stat.S_IMODE(issued.key.stat().st_mode) == 0o600
        assert stat.S_IMODE(issued.keystore.stat().st_mode) == 0o600
        keystore = issued.keystore.read_text()
        assert keystore.startswith("-----BEGIN PRIVATE KEY-----") and keystore.count("CERTIFICATE-----") == 4
    sans = _cert(server.cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert stat.S_IMODE(ca.key.stat().st_mode) == 0o600


def test_nothing_is_overwritten_and_bad_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="pki init"):
        pki.issue("gateway", kind="server", folder=tmp_path)
    pki.init_ca(tmp_path)
    with pytest.raises(FileExistsError):
        pki.init_ca(tmp_path)
    pki.issue("gateway", kind="server", folder=tmp_path)
    with pytest.raises(FileExistsError):
        pki.issue("gateway", kind="client", folder=tmp_path)
    for name in ("", "../x", "a/b", ".hidden", "ca"):
        with pytest.raises(ValueError, match="certificate name"):
            pki.issue(name, kind="client", folder=tmp_path)


def test_the_cli_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    folder = str(tmp_path / "pki")
    assert runner.invoke(app, ["pki", "init", "--dir", folder]).exit_code == 0
    server = runner.invoke(app, ["pki", "server", "kafka-broker", "--san", "broker.local", "--dir", folder])
    assert server.exit_code == 0, server.output
    client = runner.invoke(app, ["pki", "client", "zjj-housing", "--dir", folder])
    assert client.exit_code == 0 and "zjj-housing.keystore.pem" in client.output
    sans = _cert(tmp_path / "pki" / "kafka-broker.crt").extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert sans.value.get_values_for_type(x509.DNSName) == ["broker.local"]

"""A local PKI for TLS on every hop: `shuyuan pki init|server|client`.

One CA (ECDSA P-256: Ed25519 certificates are not usable for TLS by browsers, Java's Kafka or most
clients), server certificates (HTTPS gateway, Kafka broker) with SANs for localhost/127.0.0.1, and
client certificates (gateway, connectors, department systems) for Kafka's `ssl.client.auth=required`.
Files go under `var/pki` by default; private keys are written 0600 and never overwritten.

For every certificate `<name>.crt` and `<name>.key` (PKCS#8 PEM) are written, plus
`<name>.keystore.pem` (key + certificate + CA), the file a Kafka PEM keystore
(`ssl.keystore.type=PEM`) reads.
"""

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DIR = Path("var/pki")
CA_NAME = "ca"
DEFAULT_SANS = ("localhost", "127.0.0.1")

pki_app = typer.Typer(help="Local certificate authority and TLS certificates.", no_args_is_help=True)


@dataclass(frozen=True)
class Issued:
    """Where a certificate and its key were written."""

    cert: Path
    key: Path
    keystore: Path


def _write_private(path: Path, data: bytes) -> None:
    # O_EXCL with the mode at creation: never readable by others, never silently replaced.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Shuyuan"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def init_ca(folder: Path = DEFAULT_DIR, *, days: int = 3650) -> Issued:
    """Create the CA key and self-signed certificate; refuses to replace an existing CA."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = folder / f"{CA_NAME}.crt", folder / f"{CA_NAME}.key"
    if key_path.exists():
        raise FileExistsError(f"{key_path} exists: a CA is created once")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = _name("Shuyuan local CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(cert_path, key_path, cert_path)


def _load_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = folder / f"{CA_NAME}.crt", folder / f"{CA_NAME}.key"
    if not key_path.exists():
        raise FileNotFoundError(f"no CA in {folder}: run `shuyuan pki init` first")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path} is not an EC key")
    return cert, key


def issue(
    name: str,
    *,
    kind: Literal["server", "client"],
    folder: Path = DEFAULT_DIR,
    sans: tuple[str, ...] = DEFAULT_SANS,
    days: int = 397,
    client_auth: bool = False,
) -> Issued:
    """Issue a server or client certificate signed by the CA; the subject CN is `name`.

    `client_auth` also lets a server certificate authenticate as a client: a Kafka broker whose
    controller listener requires client certificates connects to it with its own certificate, and
    Java refuses a client certificate without the clientAuth extended key usage.
    """
    if not name or any(c in name for c in "/\\\0") or name.startswith(".") or name == CA_NAME:
        raise ValueError(f"not a usable certificate name: {name!r}")
    ca_cert, ca_key = _load_ca(folder)
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    keystore_path = folder / f"{name}.keystore.pem"
    if key_path.exists():
        raise FileExistsError(f"{key_path} exists: choose another name or remove the old files")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if kind == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    usages = [usage, ExtendedKeyUsageOID.CLIENT_AUTH] if kind == "server" and client_auth else [usage]
    alt_names: list[x509.GeneralName] = []
    for san in sans if kind == "server" else (name,):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            alt_names.append(x509.DNSName(san))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    _write_private(key_path, _key_pem(key))
    _write_private(keystore_path, _key_pem(key) + cert_pem + ca_pem)
    cert_path.write_bytes(cert_pem)
    return Issued(cert_path, key_path, keystore_path)


PkiDir = Annotated[Path, typer.Option("--dir", help="Folder of the CA and certificates")]


@pki_app.command("init")
def init_command(folder: PkiDir = DEFAULT_DIR) -> None:
    """Create the local CA (once)."""
    issued = init_ca(folder)
    typer.echo(f"CA certificate {issued.cert}, key {issued.key} (0600)")


@pki_app.command("server")
def server_command(
    name: Annotated[str, typer.Argument(help="Certificate name, e.g. gateway or kafka-broker")] = "server",
    san: Annotated[list[str] | None, typer.Option(help="Subject alternative names")] = None,
    folder: PkiDir = DEFAULT_DIR,
    client_auth: Annotated[
        bool,
        typer.Option("--client-auth", help="Also usable as a client certificate (a secured Kafka broker)"),
    ] = False,
) -> None:
    """Issue a server certificate (default SANs: localhost, 127.0.0.1)."""
    issued = issue(
        name, kind="server", folder=folder, sans=tuple(san or DEFAULT_SANS), client_auth=client_auth
    )
    typer.echo(f"server certificate {issued.cert}, key {issued.key}, Kafka PEM keystore {issued.keystore}")


@pki_app.command("client")
def client_command(
    name: Annotated[
        str,
        typer.Argument(
            help="Certificate name (CN; Kafka principal User:CN), e.g. gateway, connector-psb, kafka-admin"
        ),
    ],
    folder: PkiDir = DEFAULT_DIR,
) -> None:
    """Issue a client certificate for Kafka's client-certificate authentication."""
    issued = issue(name, kind="client", folder=folder)
    typer.echo(f"client certificate {issued.cert}, key {issued.key}, Kafka PEM keystore {issued.keystore}")

"""`shuyuan keys`: a department's own key pairs, made where the department runs its connector.

Only the public JWKs are printed, to be registered with `POST /v1/departments/{code}/keys`; the
private files stay in the key folder (docs/crypto.md).
"""

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from connectors import keys as department_keys

keys_app = typer.Typer(help="A department's signing and encryption keys.", no_args_is_help=True)

KeysDir = Annotated[
    Path | None, typer.Option("--dir", help="Key folder (default: var/keys/departments/<dept>)")
]


def _folder(department: str, folder: Path | None) -> Path:
    return folder or department_keys.default_dir(Path("var"), department)


@keys_app.command("init")
def init_command(
    department: Annotated[str, typer.Argument(help="Department code")], folder: KeysDir = None
) -> None:
    """Create the department's signing and encryption keys unless they exist; print the public JWKs."""
    keys, created = department_keys.ensure(_folder(department, folder), department)
    typer.echo(json.dumps({"created": created, "keys": keys.public_jwks()}, indent=2))


@keys_app.command("rotate")
def rotate_command(
    department: Annotated[str, typer.Argument(help="Department code")],
    use: Annotated[Literal["sig", "enc"], typer.Option(help="Which key to add")],
    folder: KeysDir = None,
) -> None:
    """Add a new key next to the old ones (rotation with overlap); print its public JWK to register."""
    path = _folder(department, folder)
    if not path.is_dir():
        typer.echo(f"no keys of {department!r} in {path}: run `shuyuan keys init` first", err=True)
        raise typer.Exit(2)
    kid = department_keys.add_key(path, use)
    keys = department_keys.load(path, department)
    typer.echo(json.dumps(next(j for j in keys.public_jwks() if j["kid"] == kid), indent=2))


@keys_app.command("gateway-jwks")
def gateway_jwks_command(
    out: Annotated[Path | None, typer.Option(help="Write the JWKS to this file (default: print it)")] = None,
) -> None:
    """The public JWKS of the gateway's request keys (SHUYUAN_REQUEST_SIGNING_KEY), for connectors to pin."""
    if out is None:
        typer.echo(json.dumps(gateway_jwks(), indent=2))
        return
    typer.echo(f"wrote {write_gateway_jwks(out)} gateway request key(s) to {out}")


def gateway_jwks() -> dict[str, Any]:
    """The public JWKS of this gateway's request keys, from its settings."""
    from exchange.request_signing import RequestSigner
    from exchange.settings import GatewaySettings

    return RequestSigner.from_entries(GatewaySettings().request_signing_entries()).jwks()


def write_gateway_jwks(path: Path) -> int:
    """Write the public JWKS of this gateway's request keys to a file; returns how many keys."""
    jwks = gateway_jwks()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(jwks, indent=2) + "\n", encoding="utf-8")
    return len(jwks["keys"])

"""`shuyuan demo`: run the scenarios against a running exchange; non-zero exit when a step misbehaves."""

from pathlib import Path
from typing import Annotated

import typer

DEFAULT_DATA = Path("var")


def demo(
    url: Annotated[str, typer.Option(help="Gateway base URL (`make run`'s)")] = "http://127.0.0.1:8000",
    data_dir: Annotated[
        Path, typer.Option(help="The exchange's data folder: the sample systems' and departments' keys")
    ] = DEFAULT_DATA,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Only these scenarios (A, B, C); default: all")
    ] = None,
) -> None:
    """Tell SCENARIOS.md step by step against a running exchange, checking every step."""
    import httpx

    from shuyuan.demo.runner import run
    from shuyuan.demo.scenarios import SCENARIOS
    from shuyuan.demo.world import DemoWorld

    chosen = [s.upper() for s in scenario] if scenario else list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise typer.BadParameter(f"no scenario {', '.join(unknown)} (there are {', '.join(SCENARIOS)})")
    world = DemoWorld(url, data_dir)
    try:
        world.http.get("/healthz").raise_for_status()
    except httpx.HTTPError as exc:
        typer.echo(f"no exchange answers at {url} ({exc}); start one with `make run`", err=True)
        raise typer.Exit(2) from exc
    try:
        failed = run([SCENARIOS[s](world) for s in chosen])
    finally:
        world.close()
    raise typer.Exit(1 if failed else 0)

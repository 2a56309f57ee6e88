"""`shuyuan console ...`: manage console accounts from the command line (no web sign-up exists)."""

from typing import Annotated

import typer

console_app = typer.Typer(help="The stewards' admin console.", no_args_is_help=True)


@console_app.command("create-user")
def create_user(
    username: Annotated[str, typer.Option(help="Sign-in name")],
    role: Annotated[str, typer.Option(help="steward | security_officer | viewer")],
    display_name: Annotated[str, typer.Option(help="Name shown in the console")] = "",
    database_url: Annotated[
        str, typer.Option(envvar="SHUYUAN_DATABASE_URL", help="The registry database")
    ] = "sqlite:///./var/shuyuan.db",
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, envvar="SHUYUAN_CONSOLE_NEW_PASSWORD"
        ),
    ] = "",
) -> None:
    """Create a console account (the password is prompted for and stored only as an Argon2 hash)."""
    from console.settings import ConsoleSettings
    from console.users import service as users
    from protocol.errors import ShuyuanError
    from registry.db import make_engine, unit_of_work, upgrade

    engine = make_engine(database_url)
    try:
        upgrade(engine)  # the registry's tree holds the accounts (registry never imports exchange)
        with unit_of_work(engine) as session:
            users.create(
                session=session,
                username=username,
                password=password,
                role=role,
                settings=ConsoleSettings(),
                display_name=display_name,
            )
    except ShuyuanError as exc:
        typer.echo(f"refused: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"created {role} {username!r}")

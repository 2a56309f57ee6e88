"""`shuyuan console create-user`: accounts from the command line, with the password policy."""

from pathlib import Path

from typer.testing import CliRunner

from console.settings import ConsoleSettings
from console.users import service as users
from registry.db import make_engine, unit_of_work
from shuyuan.cli import app


def test_create_user_stores_a_hash_and_refuses_weak_or_duplicate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    def create(name: str, password: str, role: str = "steward") -> tuple[int, str]:
        result = runner.invoke(
            app,
            ["console", "create-user", "--username", name, "--role", role, "--database-url", url],
            env={"SHUYUAN_CONSOLE_NEW_PASSWORD": password},
        )
        return result.exit_code, result.output

    assert create("li", "a-long-enough-password") == (0, "created steward 'li'\n")
    assert create("wang", "short")[0] == 1
    assert create("li", "another-long-password")[0] == 1
    assert create("zhao", "a-long-enough-password", role="root")[0] == 1
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        assert [u.username for u in users.list_(session=session)] == ["li"]
        signed_in = users.authenticate(
            session=session, username="li", password="a-long-enough-password", settings=ConsoleSettings()
        )
        assert signed_in.user is not None and signed_in.user.role == "steward"
    engine.dispose()

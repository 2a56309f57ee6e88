"""`shuyuan keys init|rotate`: key pairs made at the department, only public JWKs printed."""

import json
from pathlib import Path

from typer.testing import CliRunner

from connectors import keys as department_keys
from shuyuan.cli import app


def test_init_is_idempotent_and_rotate_adds_a_key(tmp_path: Path) -> None:
    runner = CliRunner()
    folder = str(tmp_path / "psb")
    first = runner.invoke(app, ["keys", "init", "psb", "--dir", folder])
    assert first.exit_code == 0, first.output
    out = json.loads(first.output)
    assert out["created"] is True
    assert sorted(k["use"] for k in out["keys"]) == ["enc", "sig"] and all("d" not in k for k in out["keys"])
    again = json.loads(runner.invoke(app, ["keys", "init", "psb", "--dir", folder]).output)
    assert again == out | {"created": False}
    rotated = runner.invoke(app, ["keys", "rotate", "psb", "--use", "enc", "--dir", folder])
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.output)
    assert new["use"] == "enc" and "d" not in new
    assert new["kid"] in department_keys.load(tmp_path / "psb", "psb").encryption
    assert len(department_keys.load(tmp_path / "psb", "psb").encryption) == 2


def test_rotate_without_keys_and_a_bad_use_are_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["keys", "rotate", "psb", "--use", "sig", "--dir", str(tmp_path / "none")])
    assert missing.exit_code == 2 and "keys init" in missing.output
    assert (
        runner.invoke(app, ["keys", "rotate", "psb", "--use", "mac", "--dir", str(tmp_path)]).exit_code == 2
    )

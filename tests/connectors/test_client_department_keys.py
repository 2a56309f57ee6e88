"""A department's private key files: generated once, 0600, loaded back, public halves only exported."""

import json
import os
import stat
from pathlib import Path

import pytest

from connectors import keys as department_keys


def test_ensure_generates_once_with_private_modes(tmp_path: Path) -> None:
    folder = department_keys.default_dir(tmp_path, "psb")
    keys, created = department_keys.ensure(folder, "psb")
    assert created
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.iterdir())
    assert [f.name.split("-")[0] for f in files] == ["enc", "sig"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    again, created_again = department_keys.ensure(folder, "psb")
    assert not created_again
    assert again.signing_kid == keys.signing_kid and list(again.encryption) == list(keys.encryption)


def test_public_jwks_carry_no_private_parameter(tmp_path: Path) -> None:
    keys, _ = department_keys.ensure(tmp_path / "k", "hrss")
    jwks = keys.public_jwks()
    assert sorted((j["use"], j["crv"]) for j in jwks) == [("enc", "X25519"), ("sig", "Ed25519")]
    assert all("d" not in j and j["kid"] for j in jwks)
    private = json.loads(next((tmp_path / "k").glob("sig-*")).read_text())
    assert "d" in private  # the file itself does hold the private key


def test_rotation_adds_a_key_and_the_newest_signs(tmp_path: Path) -> None:
    folder = tmp_path / "k"
    keys, _ = department_keys.ensure(folder, "amr")
    old_sig = keys.signing_kid
    new_sig = department_keys.add_key(folder, "sig")
    new_enc = department_keys.add_key(folder, "enc")
    os.utime(next(folder.glob(f"sig-{new_sig}*")), ns=(2**62, 2**62))  # strictly newest, whatever the clock
    rotated = department_keys.load(folder, "amr")
    assert rotated.signing_kid == new_sig and old_sig in rotated.signing
    assert new_enc in rotated.encryption and len(rotated.encryption) == 2  # old JWEs still decrypt


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "k"
    department_keys.ensure(folder, "psb")
    victim = next(folder.glob("enc-*"))
    victim.chmod(0o644)
    with pytest.raises(PermissionError, match="0600"):
        department_keys.load(folder, "psb")


def test_a_key_of_the_wrong_curve_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "k"
    department_keys.ensure(folder, "psb")
    victim = next(folder.glob("enc-*"))
    raw = json.loads(victim.read_text())
    victim.write_text(json.dumps(raw | {"use": "sig"}))  # an X25519 key posing as a signing key
    with pytest.raises(ValueError, match="not a default sig key"):
        department_keys.load(folder, "psb")


def test_no_signing_key_is_a_clear_error(tmp_path: Path) -> None:
    keys = department_keys.DepartmentKeys(department="psb")
    with pytest.raises(LookupError, match="no signing key"):
        _ = keys.signing_kid

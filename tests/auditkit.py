"""Helpers of the audit tests: the pinned key a verifier trusts."""

from pathlib import Path

from exchange.audit import keys


def pins(key_dir: Path) -> keys.PinnedKeys:
    """Pin the audit key of key_dir (created there if missing), as an officer pins the sealer's key."""
    return keys.PinnedKeys.of(keys.load_or_create(key_dir).public)

"""The witness's statement and its co-signature: what `shuyuan audit witness` signs, and its check.

In the spirit of C2SP tlog-cosignature: the witness signs, with Ed25519, a short text naming the log
(its origin), the size of the log-wide tree and its root, and the time it signed:

    shuyuan-audit-cosignature/v1
    time <unix seconds>
    <origin>
    <tree size>
    <root, base64 (standard, padded)>

each line ending in one newline (LF). C2SP signs `cosignature/v1` and the checkpoint note body the same
way; a different first line keeps a Shuyuan co-signature from ever being taken for a C2SP one (or the
other way round). The signature says: "I, the witness, saw this tree, signed by the pinned audit key,
and checked it is an append-only extension of every tree I co-signed before."
"""

import base64
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.audit.keys import PinnedKeys, b64url, fingerprint, load_public_pem, public_pem, unb64url

HEADER = "shuyuan-audit-cosignature/v1"
ORIGIN_PATTERN = r"^[\x21-\x7e][\x20-\x7e]{0,198}$"  # one printable ASCII line, as a C2SP origin


class WitnessProblem(StrEnum):
    """Why a witness refuses to co-sign (the `reason` of an `audit.witness_refused` record)."""

    BAD_SIGNATURE = "witness_bad_signature"  # not signed (with its tree root) by the pinned audit key
    ORIGIN_CHANGED = "witness_origin_changed"  # another log than the one the witness follows
    TRUNCATED = "witness_truncated"  # the tree is smaller than one the witness co-signed
    FORKED = "witness_forked"  # same size as one co-signed, another root: history rewritten
    INCONSISTENT = "witness_inconsistent"  # no valid consistency proof from the last co-signed tree


def statement(*, origin: str, size: int, root: str, timestamp: int) -> bytes:
    """The bytes a witness signs for the tree (size, root hex) of the log `origin` at `timestamp`."""
    if not re.fullmatch(ORIGIN_PATTERN, origin):
        raise ValueError(f"not a log origin (one printable ASCII line): {origin!r}")
    if size < 0 or timestamp < 0:
        raise ValueError("size and time are not negative")
    b64 = base64.b64encode(bytes.fromhex(root)).decode()
    return f"{HEADER}\ntime {timestamp}\n{origin}\n{size}\n{b64}\n".encode()


def sign(private: Ed25519PrivateKey, *, origin: str, size: int, root: str, timestamp: int) -> dict[str, Any]:
    """A co-signature as the log stores it and a bundle ships it."""
    public = private.public_key()
    return {
        "witness": fingerprint(public),
        "public_key_pem": public_pem(public),
        "origin": origin,
        "timestamp": timestamp,
        "signature": b64url(
            private.sign(statement(origin=origin, size=size, root=root, timestamp=timestamp))
        ),
    }


def signature_ok(cosig: Mapping[str, Any], public: Ed25519PublicKey, *, size: int, root: str) -> bool:
    """Whether `public` signed the statement this co-signature names for the tree (size, root)."""
    try:
        message = statement(origin=cosig["origin"], size=size, root=root, timestamp=int(cosig["timestamp"]))
        public.verify(unb64url(cosig["signature"]), message)
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def pinned_signer(
    cosig: Mapping[str, Any], pinned: PinnedKeys, *, size: int, root: str
) -> Ed25519PublicKey | None:
    """The pinned witness key whose valid signature this is, or None (never the shipped key alone)."""
    try:
        shipped = load_public_pem(str(cosig.get("public_key_pem", "")))
    except ValueError:
        shipped = None
    candidates = [*pinned.keys, *([shipped] if shipped is not None else [])]
    for key in candidates:
        if pinned.trusts(key) and signature_ok(cosig, key, size=size, root=root):
            return key
    return None

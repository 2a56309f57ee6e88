"""`shuyuan audit witness`: an independent process that co-signs the audit log's checkpoints.

It holds its own Ed25519 key and its own state (the last tree it co-signed: size, root), never taken
from the log. Each round it fetches the log's newest checkpoint over the gateway's HTTP API, checks the
audit key's signature against a pinned key, asks for an RFC 9162 consistency proof from its last tree
and checks it; only then does it sign a statement (exchange/audit/cosignature.py) and hand the
co-signature back. A log that shrank or whose history changed gets no signature, and is told so (the
gateway writes the refusal on the chain). This is what Certificate Transparency witnesses do.

It talks HTTP, not SQL, on purpose: the party it watches is whoever holds the database, so it must not
need the database's trust or credentials (docs/audit.md).
"""

import contextlib
import json
import os
import time as _time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.audit import checkpoint, cosignature, merkle
from exchange.audit.cosignature import WitnessProblem
from exchange.audit.keys import PinnedKeys, fingerprint, load_public_pem, public_pem

STATE_FORMAT = "shuyuan-witness-state"


class WitnessRefused(Exception):
    """The witness will not co-sign the log's newest tree."""

    def __init__(self, problem: WitnessProblem, detail: str, *, size: int) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem, self.detail, self.size = problem, detail, size


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The witness key from `path` (PKCS#8 PEM, 0600), created on first run with its public half beside it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:  # O_EXCL: two witnesses started at once must not both write a key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            public_path(path).write_text(public_pem(private.public_key()))
    if path.stat().st_mode & 0o077:
        raise ValueError(f"{path} is readable by others: chmod 600 it")
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return loaded


def public_path(key_path: Path) -> Path:
    """Where the witness's public key (PEM) is written next to its private key: give it to officers."""
    return key_path.with_name(key_path.name + ".pub")


@dataclass(frozen=True)
class WitnessState:
    """The last tree the witness co-signed, with its own co-signature (the witness's latest statement)."""

    origin: str
    size: int
    root: str
    timestamp: int
    witness: str
    signature: str
    public_key_pem: str

    def to_json(self) -> dict[str, Any]:
        """The state file's content."""
        return {"format": STATE_FORMAT, "version": 1, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "WitnessState":
        """Parse a state file; ValueError if it is not one."""
        if data.get("format") != STATE_FORMAT or data.get("version") != 1:
            raise ValueError("not a Shuyuan witness state file")
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except KeyError as exc:
            raise ValueError(f"the witness state lacks {exc}") from exc

    def cosignature(self) -> dict[str, Any]:
        """The state as a co-signature of its tree (what the verifier checks it with)."""
        return {"origin": self.origin, "timestamp": self.timestamp, "signature": self.signature,
                "witness": self.witness, "public_key_pem": self.public_key_pem}  # fmt: skip


def load_state(path: Path) -> WitnessState | None:
    """The witness's state, or None on its first run."""
    if not path.exists():
        return None
    return WitnessState.from_json(json.loads(path.read_text()))


def save_state(path: Path, state: WitnessState) -> None:
    """Write the state atomically (a crash leaves the old or the new one, never half of one), 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state.to_json(), f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Log(Protocol):
    """How the witness reaches the log (HttpLog; a test may give another)."""

    def latest(self) -> dict[str, Any]: ...
    def consistency(self, first: int, second: int) -> list[str] | None: ...
    def cosign(self, size: int, cosig: dict[str, Any]) -> None: ...
    def refuse(self, size: int, refusal: dict[str, Any]) -> None: ...


class HttpLog:
    """The gateway's audit API (`/v1/audit/...`), with an access token granting `audit:read`."""

    def __init__(self, client: httpx.Client, token: Callable[[], str | None] = lambda: None) -> None:
        self._client = client
        self._token = token

    def _headers(self) -> dict[str, str]:
        token = self._token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def latest(self) -> dict[str, Any]:
        """The newest checkpoint with its tree."""
        response = self._client.get("/v1/audit/checkpoints/latest", headers=self._headers())
        response.raise_for_status()
        return dict(response.json())

    def consistency(self, first: int, second: int) -> list[str] | None:
        """The proof's nodes (hex), or None when the log holds no such pair of trees."""
        response = self._client.get(
            "/v1/audit/consistency", params={"from": first, "to": second}, headers=self._headers()
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return list(response.json()["proof"])

    def cosign(self, size: int, cosig: dict[str, Any]) -> None:
        """Hand a co-signature back to the log."""
        response = self._client.post(
            f"/v1/audit/checkpoints/{size}/cosignatures", json=cosig, headers=self._headers()
        )
        response.raise_for_status()

    def refuse(self, size: int, refusal: dict[str, Any]) -> None:
        """Tell the log the witness refused its tree of this size (it audits that)."""
        response = self._client.post(
            f"/v1/audit/checkpoints/{size}/refusals", json=refusal, headers=self._headers()
        )
        response.raise_for_status()


@dataclass(frozen=True)
class Outcome:
    """What one round did."""

    size: int
    root: str
    previous: int | None  # the size co-signed before (None: first run)
    new: bool  # False: the log had not grown, the co-signature was handed back again


class Witness:
    """One witness: its key, its state file, the pinned audit key(s), the log it follows."""

    def __init__(
        self,
        *,
        log: Log,
        key: Ed25519PrivateKey,
        state_path: Path,
        audit_keys: PinnedKeys,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        if not audit_keys:
            raise ValueError("the witness needs a pinned audit key: the log's own keys prove nothing")
        self.log = log
        self.key = key
        self.state_path = state_path
        self.audit_keys = audit_keys
        self._clock = clock

    @property
    def public(self) -> Ed25519PublicKey:
        """The witness's public key."""
        return self.key.public_key()

    def once(self) -> Outcome:
        """Check the log's newest tree and co-sign it; WitnessRefused (told to the log) if it must not."""
        latest = self.log.latest()
        cp = latest["checkpoint"]
        size = int(cp["last_seq"])
        try:
            return self._witness(latest["origin"], cp, size)
        except WitnessRefused as refused:
            self._tell(refused)
            raise

    def _witness(self, origin: str, cp: dict[str, Any], size: int) -> Outcome:
        self._check_signature(cp, size)
        root = str(cp["tree_root"])
        state = load_state(self.state_path)
        if state is not None:
            self._check_consistent(state, origin, size, root)
        if state is not None and state.size == size:
            self.log.cosign(size, state.cosignature())  # the log may have lost it: hand it back again
            return Outcome(size, root, state.size, new=False)
        cosig = cosignature.sign(self.key, origin=origin, size=size, root=root, timestamp=int(self._clock()))
        # Remember before telling the log: a crash in between must not let this tree be forgotten.
        save_state(self.state_path, WitnessState(root=root, size=size, **cosig))
        self.log.cosign(size, cosig)
        return Outcome(size, root, state.size if state else None, new=True)

    def _check_signature(self, cp: dict[str, Any], size: int) -> None:
        key = self.audit_keys.by_kid(str(cp.get("kid")))
        if key is None and cp.get("public_key_pem"):
            shipped = load_public_pem(cp["public_key_pem"])
            key = shipped if self.audit_keys.trusts(shipped) else None
        if key is None or not checkpoint.signature_ok(cp, key):
            raise WitnessRefused(
                WitnessProblem.BAD_SIGNATURE,
                f"the checkpoint of tree size {size} is not signed by the pinned audit key "
                f"({', '.join(self.audit_keys.trusted())})",
                size=size,
            )
        if not checkpoint.tree_signed(cp, key):
            raise WitnessRefused(
                WitnessProblem.BAD_SIGNATURE,
                f"the checkpoint of tree size {size} has no tree root signed by the audit key",
                size=size,
            )

    def _check_consistent(self, state: WitnessState, origin: str, size: int, root: str) -> None:
        if origin != state.origin:
            raise WitnessRefused(
                WitnessProblem.ORIGIN_CHANGED,
                f"the log calls itself {origin!r}; this witness follows {state.origin!r}",
                size=size,
            )
        if size < state.size:
            raise WitnessRefused(
                WitnessProblem.TRUNCATED,
                f"the log's tree has {size} records, but this witness co-signed {state.size}: "
                f"records {size + 1}..{state.size} were removed",
                size=size,
            )
        if size == state.size:
            if root != state.root:
                raise WitnessRefused(
                    WitnessProblem.FORKED,
                    f"the tree of size {size} now has root {root}, this witness co-signed {state.root}: "
                    "history was rewritten",
                    size=size,
                )
            return
        proof = self.log.consistency(state.size, size)
        if proof is None or not merkle.verify_consistency(
            state.size,
            bytes.fromhex(state.root),
            size,
            bytes.fromhex(root),
            [bytes.fromhex(p) for p in proof],
        ):
            raise WitnessRefused(
                WitnessProblem.INCONSISTENT,
                f"the tree of size {size} does not extend the tree of size {state.size} this witness "
                "co-signed (no valid consistency proof): history was rewritten",
                size=size,
            )

    def _tell(self, refused: WitnessRefused) -> None:
        state = load_state(self.state_path)
        refusal = {
            "public_key_pem": public_pem(self.public),
            "problem": refused.problem.value,
            "detail": refused.detail[:500],
            "seen_size": state.size if state else 0,
            "seen_root": state.root if state else merkle.root_from_leaf_hashes([]).hex(),
        }
        # The refusal stands whether or not the log records it; the operator sees it either way.
        with contextlib.suppress(httpx.HTTPError):
            self.log.refuse(refused.size, refusal)


def describe_key(key: Ed25519PrivateKey) -> str:
    """The witness key's fingerprint, in the audit key's `SHA256:` form."""
    return fingerprint(key.public_key())

"""The gateway's cached view of department keys.

Revocation must take effect at once on every gateway instance. In-process, registry writes invalidate
the cache through `RegistryChanges`; other instances see a change after at most `max_age_s` (1 s by
default), until registry change events on Kafka (`<ns>.registry`) invalidate them too.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from joserfc.jwk import Key
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from protocol.clock import utcnow
from protocol.crypto_profile import DEFAULT, CryptoProfile, KeyUse
from protocol.jose import JoseFailure, import_public
from registry.departments.models import Department
from registry.keys.models import DepartmentKey
from registry.keys.service import status_at
from registry.snapshot import SnapshotCache


@dataclass(frozen=True, slots=True)
class KeyView:
    """One registered public key."""

    department: str
    kid: str
    use: str
    jwk: dict[str, Any]
    not_before: datetime
    not_after: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class KeySnapshot:
    """Every department's keys as of one moment, newest last per (department, use)."""

    keys: dict[tuple[str, str], tuple[KeyView, ...]] = field(default_factory=dict)
    profile: CryptoProfile = DEFAULT

    def valid(self, department: str, use: KeyUse, *, at: datetime | None = None) -> list[KeyView]:
        """The keys of this use that are valid now (not pending, expired or revoked)."""
        now = at or utcnow()
        return [k for k in self.keys.get((department, use), ()) if status_at(k, now) == "valid"]

    def find(self, department: str, use: KeyUse, kid: str) -> KeyView | None:
        """A valid key of this department, use and kid, or None."""
        return next((k for k in self.valid(department, use) if k.kid == kid), None)

    def current(self, department: str, use: KeyUse) -> tuple[str, Key] | None:
        """The newest valid key of this use (what a sender encrypts to), imported; None if there is none."""
        for view in reversed(self.valid(department, use)):
            try:
                return view.kid, import_public(view.jwk, use=use, profile=self.profile)
            except JoseFailure:
                continue  # a key the profile cannot use is skipped, never guessed around
        return None


def load_keys(engine: Engine, *, profile: CryptoProfile = DEFAULT) -> KeySnapshot:
    """Read every department key (a few per department: cheap to reload on every change)."""
    grouped: dict[tuple[str, str], list[KeyView]] = defaultdict(list)
    with Session(engine) as session:
        stmt = (
            select(DepartmentKey, Department.code)
            .join(Department, col(Department.id) == DepartmentKey.department_id)
            .order_by(col(DepartmentKey.not_before), col(DepartmentKey.id))
        )
        for key, code in session.exec(stmt):
            grouped[(code, key.use)].append(
                KeyView(code, key.kid, key.use, key.jwk, key.not_before, key.not_after, key.revoked_at)
            )
    return KeySnapshot({k: tuple(v) for k, v in grouped.items()}, profile)


class KeyDirectory(SnapshotCache[KeySnapshot]):
    """Holds the current KeySnapshot; reloads when invalidated or older than max_age_s."""

    def __init__(self, engine: Engine, *, max_age_s: float = 1.0, profile: CryptoProfile = DEFAULT) -> None:
        super().__init__(engine, partial(load_keys, profile=profile), max_age_s=max_age_s)

"""The dispute flag's lookup (异议标注): open corrections by (element, subject blind index), in memory.

The query hot path asks it once per query and never waits for the database while the snapshot is
fresh: it is the registry's SnapshotCache (registry/snapshot.py) over the open corrections, reloaded
at once when a correction changes through this gateway (`invalidate`) and at least every
SHUYUAN_CORRECTIONS_DISPUTE_REFRESH_S (2 s) for changes made through another gateway process.
"""

from collections.abc import Sequence

from sqlalchemy import Engine

from exchange.corrections import service
from registry.snapshot import SnapshotCache

Disputed = dict[tuple[str, str], str]


class DisputeIndex(SnapshotCache[Disputed]):
    """Holds the open corrections' (element, subject index) pairs and their correction ids."""

    def __init__(self, engine: Engine, *, max_age_s: float) -> None:
        super().__init__(engine, service.open_disputes, max_age_s=max_age_s)

    async def open_for(self, subject_index: str, elements: Sequence[str]) -> dict[str, str]:
        """Element code -> id of its open correction, for the elements of one subject that have one."""
        disputed = await self.current()
        if not disputed:
            return {}
        return {e: cid for e in elements if (cid := disputed.get((e, subject_index))) is not None}

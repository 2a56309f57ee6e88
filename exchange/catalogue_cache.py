"""The gateway's cached view of the registry: decisions never wait for the database."""

import asyncio
import time

from sqlalchemy import Engine

from registry.catalogue import Catalogue, load_catalogue


class CatalogueCache:
    """Holds the current Catalogue; reloads when told the registry changed, or when it is old."""

    def __init__(self, engine: Engine, *, max_age_s: float) -> None:
        self._engine = engine
        self._max_age_s = max_age_s
        self._catalogue: Catalogue | None = None
        self._loaded_at = 0.0
        self._stale = True
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Mark the cache stale (called after a registry change commits); safe from any thread."""
        self._stale = True

    async def current(self) -> Catalogue:
        """The catalogue, reloaded first if it is stale."""
        if (
            self._catalogue is not None
            and not self._stale
            and time.monotonic() - self._loaded_at < self._max_age_s
        ):
            return self._catalogue
        async with self._lock:
            if (
                self._catalogue is None
                or self._stale
                or time.monotonic() - self._loaded_at >= self._max_age_s
            ):
                self._stale = False
                self._catalogue = await asyncio.to_thread(load_catalogue, self._engine)
                self._loaded_at = time.monotonic()
        return self._catalogue

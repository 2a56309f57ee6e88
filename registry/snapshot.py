"""A snapshot of registry data, loaded from the database in a thread and kept for a short while.

The gateway's catalogue (exchange/catalogue_cache.py) and key directory (registry/keys/directory.py)
are both this: decisions read an in-memory snapshot and wait for the database only when the snapshot
is stale, that is invalidated by a registry change or older than `max_age_s`.

Two rules keep it correct. A caller that asks after `invalidate()` returned gets a snapshot whose load
started after that call (a revocation takes effect at the very next read), so a load under way when
the change came does not count. And a failed load leaves the cache as it was: the callers that shared
it get the error, the next caller loads again.
"""

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Loaded(Generic[T]):
    value: T
    at: float  # time.monotonic() when the load finished: the age counts from there
    generation: int  # the invalidation generation the load started in


@dataclass(frozen=True, slots=True)
class _Loading(Generic[T]):
    task: asyncio.Task[T]
    generation: int


class SnapshotCache(Generic[T]):
    """Holds the current snapshot; reloads when invalidated or older than max_age_s."""

    def __init__(self, engine: Engine, loader: Callable[[Engine], T], *, max_age_s: float) -> None:
        self._engine = engine
        self._loader = loader
        self._max_age_s = max_age_s
        # invalidate() may run in any thread: it only replaces this int (next() of a count is atomic).
        self._generations = itertools.count(1)
        self._generation = 0
        self._loaded: _Loaded[T] | None = None
        self._loading: _Loading[T] | None = None

    @property
    def max_age_s(self) -> float:
        """How long a snapshot is used without an invalidation."""
        return self._max_age_s

    def invalidate(self) -> None:
        """Mark the snapshot stale (a registry change committed); safe from any thread."""
        self._generation = next(self._generations)

    async def current(self) -> T:
        """The snapshot, reloaded first if it is stale; concurrent callers share one load."""
        generation = self._generation
        loaded = self._loaded
        if (
            loaded is not None
            and loaded.generation == generation
            and time.monotonic() - loaded.at < self._max_age_s
        ):
            return loaded.value
        # Shielded: a caller that gives up (a cancelled request) does not cancel the others' load.
        return await asyncio.shield(self._load_since(generation))

    def _load_since(self, generation: int) -> asyncio.Task[T]:
        """The load under way if it started in this generation or later, else a new one."""
        loop = asyncio.get_running_loop()
        loading = self._loading
        if (
            loading is not None
            and loading.generation >= generation
            and not loading.task.done()
            and loading.task.get_loop() is loop
        ):
            return loading.task
        # Read before the thread starts, so a change invalidated after this point makes the result stale.
        started_in = self._generation
        task = loop.create_task(self._load(started_in))
        task.add_done_callback(self._forget)
        self._loading = _Loading(task, started_in)
        return task

    async def _load(self, generation: int) -> T:
        value = await asyncio.to_thread(self._loader, self._engine)
        loaded = self._loaded
        # An older load that finishes after a newer one must not replace the newer snapshot.
        if loaded is None or loaded.generation <= generation:
            self._loaded = _Loaded(value, time.monotonic(), generation)
        return value

    def _forget(self, task: asyncio.Task[T]) -> None:
        if self._loading is not None and self._loading.task is task:
            self._loading = None
        if not task.cancelled():
            # Retrieved here too, so a failed load whose callers all gave up logs no "never retrieved".
            task.exception()

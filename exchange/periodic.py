"""A job the gateway runs every few seconds in its lifespan (deadline checks, sweeps, purges).

Every gateway instance runs its own; the jobs are written so that several instances running the same
one at once is harmless (conditional updates, idempotent inserts).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class PeriodicTask:
    """Runs `job` every `period_s` seconds between start() and stop(); a failure waits for the next period."""

    def __init__(self, name: str, period_s: float, job: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.period_s = period_s
        self._job = job
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start the periodic job (the first run is one period from now)."""
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop it; a run in progress is cancelled (each job is safe to cut off and run again)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            try:
                await self._job()
            except Exception:
                log.exception("%s failed; retrying next period", self.name)

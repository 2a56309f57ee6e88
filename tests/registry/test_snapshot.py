"""The snapshot cache behind the catalogue cache and the key directory: when it loads, and how often."""

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, create_engine

from registry import snapshot
from registry.snapshot import SnapshotCache

R = TypeVar("R")


def _run(make: Callable[[], Coroutine[Any, Any, R]]) -> R:
    """Run a coroutine on a fresh loop in a worker thread (a test elsewhere may leave a loop running here)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


class Loader:
    """Counts its loads; each returns a new object. `gate` holds a load until set; `fail` raises once."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self.fail: Exception | None = None
        self.engines: list[Engine] = []

    def __call__(self, engine: Engine) -> dict[str, int]:
        self.calls += 1
        number = self.calls
        self.engines.append(engine)
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(5), "the test never released the load"
        if self.fail is not None:
            failure, self.fail = self.fail, None
            raise failure
        return {"load": number}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(snapshot, "time", fake)
    return fake


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")  # never connected to: the loader is a fake
    yield engine
    engine.dispose()


@pytest.fixture
def loader() -> Loader:
    return Loader()


def _cache(engine: Engine, loader: Loader, max_age_s: float = 60.0) -> SnapshotCache[dict[str, int]]:
    return SnapshotCache(engine, loader, max_age_s=max_age_s)


async def _started(loader: Loader) -> None:
    """Wait (without blocking the loop) until the loader runs in its thread."""
    await asyncio.to_thread(loader.started.wait, 5)
    loader.started.clear()


def test_the_first_read_loads_and_later_reads_reuse_the_snapshot(
    clock: Clock, engine: Engine, loader: Loader
) -> None:
    cache = _cache(engine, loader)

    async def reads() -> list[dict[str, int]]:
        return [await cache.current() for _ in range(3)]

    first, second, third = _run(reads)
    assert first is second is third
    assert loader.calls == 1 and loader.engines == [engine]


def test_a_snapshot_older_than_max_age_is_reloaded(clock: Clock, engine: Engine, loader: Loader) -> None:
    cache = _cache(engine, loader, max_age_s=1.0)
    assert _run(cache.current) == {"load": 1}
    clock.now += 0.99
    assert _run(cache.current) == {"load": 1}
    clock.now += 0.01
    assert _run(cache.current) == {"load": 2}
    assert cache.max_age_s == 1.0


def test_invalidate_forces_a_reload_however_young_the_snapshot(
    clock: Clock, engine: Engine, loader: Loader
) -> None:
    cache = _cache(engine, loader, max_age_s=3600)
    assert _run(cache.current) == {"load": 1}
    cache.invalidate()
    assert _run(cache.current) == {"load": 2}
    assert _run(cache.current) == {"load": 2}


def test_invalidate_is_safe_from_another_thread(clock: Clock, engine: Engine, loader: Loader) -> None:
    cache = _cache(engine, loader, max_age_s=3600)
    assert _run(cache.current) == {"load": 1}
    worker = threading.Thread(target=cache.invalidate)
    worker.start()
    worker.join()
    assert _run(cache.current) == {"load": 2}


def test_concurrent_callers_share_one_load(clock: Clock, engine: Engine, loader: Loader) -> None:
    cache = _cache(engine, loader)
    gate = loader.gate = threading.Event()

    async def many() -> list[dict[str, int]]:
        readers = [asyncio.create_task(cache.current()) for _ in range(10)]
        await _started(loader)
        await asyncio.sleep(0.01)  # every reader is now waiting on the load
        gate.set()
        return await asyncio.gather(*readers)

    results = _run(many)
    assert loader.calls == 1
    assert all(r is results[0] for r in results)


def test_a_failed_load_raises_and_does_not_poison_the_cache(
    clock: Clock, engine: Engine, loader: Loader
) -> None:
    cache = _cache(engine, loader)
    loader.fail = RuntimeError("database down")
    with pytest.raises(RuntimeError, match="database down"):
        _run(cache.current)
    assert _run(cache.current) == {"load": 2}  # the next read loads again
    assert _run(cache.current) == {"load": 2}


def test_callers_sharing_a_failed_load_all_get_its_error_and_it_is_tried_once(
    clock: Clock, engine: Engine, loader: Loader
) -> None:
    cache = _cache(engine, loader)
    gate = loader.gate = threading.Event()
    loader.fail = RuntimeError("database down")

    async def many() -> list[Any]:
        readers = [asyncio.create_task(cache.current()) for _ in range(5)]
        await _started(loader)
        await asyncio.sleep(0.01)
        gate.set()
        return await asyncio.gather(*readers, return_exceptions=True)

    outcomes = _run(many)
    assert loader.calls == 1
    assert all(isinstance(o, RuntimeError) for o in outcomes)


def test_a_failed_reload_after_invalidate_keeps_the_cache_stale(
    clock: Clock, engine: Engine, loader: Loader
) -> None:
    cache = _cache(engine, loader, max_age_s=3600)
    assert _run(cache.current) == {"load": 1}
    cache.invalidate()
    loader.fail = RuntimeError("database down")
    with pytest.raises(RuntimeError):
        _run(cache.current)
    # The invalidation is not lost: the old snapshot (say, with a revoked key) is never served again.
    assert _run(cache.current) == {"load": 3}


def test_invalidated_during_a_load_the_next_read_loads_again(
    clock: Clock, engine: Engine, loader: Loader
) -> None:
    cache = _cache(engine, loader, max_age_s=3600)
    gate = loader.gate = threading.Event()

    async def scenario() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        before = asyncio.create_task(cache.current())
        await _started(loader)
        cache.invalidate()  # the load under way may have read the database before the change
        after = asyncio.create_task(cache.current())  # asked after the change: must not share that load
        await _started(loader)
        gate.set()
        return await before, await after, await cache.current()

    before, after, later = _run(scenario)
    assert before == {"load": 1}
    assert after == {"load": 2} and later is after
    assert loader.calls == 2


def test_an_older_load_finishing_last_does_not_replace_a_newer_snapshot(
    clock: Clock, engine: Engine, loader: Loader
) -> None:
    gates = [threading.Event(), threading.Event()]
    started = [threading.Event(), threading.Event()]
    calls: list[int] = []

    def ordered(_: Engine) -> int:
        n = len(calls)
        calls.append(n)
        started[n].set()
        assert gates[n].wait(5)
        return n

    cache = SnapshotCache(engine, ordered, max_age_s=3600)

    async def scenario() -> tuple[int, int, int]:
        old = asyncio.create_task(cache.current())
        await asyncio.to_thread(started[0].wait, 5)
        cache.invalidate()
        new = asyncio.create_task(cache.current())
        await asyncio.to_thread(started[1].wait, 5)
        gates[1].set()
        new_value = await new
        gates[0].set()
        return await old, new_value, await cache.current()

    assert _run(scenario) == (0, 1, 1)
    assert calls == [0, 1]


def test_a_cancelled_caller_does_not_cancel_the_load_of_the_others(
    clock: Clock, engine: Engine, loader: Loader
) -> None:
    cache = _cache(engine, loader)
    gate = loader.gate = threading.Event()

    async def scenario() -> dict[str, int]:
        quitter = asyncio.create_task(cache.current())
        stayer = asyncio.create_task(cache.current())
        await _started(loader)
        quitter.cancel()
        await asyncio.sleep(0)
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await quitter
        return await stayer

    assert _run(scenario) == {"load": 1}
    assert loader.calls == 1

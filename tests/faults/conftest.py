"""The fault suite's world, started once for the whole suite: faults run one after the other on it.

Starting a broker, a PostgreSQL cluster and five processes takes most of a minute on 2 cores, so the
faults share them; each fault waits until a query completes before it begins, and its checks cover
the whole audit trail so far. A service that cannot start fails the suite (never skips it).
"""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.faultchecks import git_commit, start_report
from tests.faultkit import ROOT, Exchange, PrivateServices
from tests.faultload import Load, complete_subjects, wait_until_answering

READY_TIMEOUT_S = 120


@dataclass
class World:
    """The private services, the exchange on them, and the subjects every answer can be complete for."""

    services: PrivateServices
    exchange: Exchange
    subjects: list[str]

    def ready(self, timeout_s: float = 60) -> float:
        """Wait until a query completes; the seconds it took."""
        dead = self.exchange.dead()
        assert not dead, f"processes exited: {dead}\n" + "\n".join(self.exchange.log(n) for n in dead)
        return wait_until_answering(self.exchange.url, self.exchange.work, self.subjects[0], timeout_s)

    def load(self) -> Load:
        """The steady load on this world's gateway (a context manager: stopped on the way out)."""
        return Load(self.exchange.url, self.exchange.work, self.subjects)


@pytest.fixture(scope="module")  # one module; its processes must not outlive it (they load the machine)
def world() -> Iterator[World]:
    """The whole exchange on a private broker and database; everything ended at teardown."""
    services = PrivateServices.in_tmp()
    # The processes' logs and the department databases stay in tests/artifacts/faults for a post-mortem.
    work = ROOT / "tests" / "artifacts" / "faults"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    exchange = Exchange(services, work)
    try:
        try:
            services.start()
            exchange.load_samples()
        except Exception as exc:
            pytest.fail(f"the fault suite could not start its services: {exc}")
        exchange.define()
        for name in ("gateway", "psb-1", "hrss-1", "sealer"):
            exchange.start(name)
        world = World(services, exchange, complete_subjects(exchange.work / "departments"))
        try:
            world.ready(READY_TIMEOUT_S)
        except TimeoutError as exc:
            logs = "\n".join(f"--- {n}\n{exchange.log(n)}" for n in exchange.commands)
            pytest.fail(f"the exchange did not answer: {exc}\n{logs}")
        start_report(git_commit())
        yield world
    finally:
        exchange.stop_all()
        services.stop()

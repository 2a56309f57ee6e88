"""Readiness (`/readyz`): may this gateway take queries now? Each check says why not.

Liveness (`/healthz`) only says the process serves HTTP. Readiness fails while a query could not be
answered and audited: the database does not answer, the audit path refuses writes (a broker stall:
docs/reliability.md), or the sealer is so far behind that the audit topic's retention is at risk.
A load balancer takes a gateway that is not ready out of rotation; it comes back by itself.
"""

import asyncio
from dataclasses import asdict, dataclass

from sqlalchemy import Engine, text

from exchange.audit.lag import SealerLagProbe
from exchange.audit.publisher import AuditPublisher
from exchange.audit.writer import AuditWriter

CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    """One readiness check's outcome."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    """Every check, and whether all passed."""

    checks: dict[str, Check]

    @property
    def ready(self) -> bool:
        """All checks passed."""
        return all(c.ok for c in self.checks.values())

    def body(self) -> dict[str, object]:
        """The JSON body of `/readyz`."""
        return {
            "status": "ready" if self.ready else "not_ready",
            "checks": {name: asdict(c) for name, c in self.checks.items()},
        }


async def check_readiness(
    *, engine: Engine, audit: AuditWriter | AuditPublisher, lag: SealerLagProbe | None, max_lag: int
) -> Readiness:
    """Run the checks (each bounded by CHECK_TIMEOUT_S)."""
    checks = {"database": await _database(engine)}
    health = audit.health()
    checks["audit"] = Check(
        health.ok, health.detail + (f"; {health.backlog} waiting" if health.backlog else "")
    )
    if lag is not None:
        checks["sealer_lag"] = await _sealer_lag(lag, max_lag)
    return Readiness(checks)


async def _database(engine: Engine) -> Check:
    def ping() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(asyncio.to_thread(ping), CHECK_TIMEOUT_S)
    except Exception as exc:
        return Check(False, f"the database does not answer ({type(exc).__name__})")
    return Check(True, "answers")


async def _sealer_lag(probe: SealerLagProbe, max_lag: int) -> Check:
    try:
        lag = await asyncio.wait_for(asyncio.to_thread(probe.lag), CHECK_TIMEOUT_S + 3)
    except Exception as exc:
        return Check(False, f"sealer lag unknown: the broker does not answer ({type(exc).__name__})")
    detail = f"{lag.events} audit events wait for the sealer (at most {max_lag})"
    return Check(lag.events <= max_lag, detail)

"""The gateway's registry sync without Kafka: agreements past their validity are expired periodically."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from exchange.registry_sync import RegistrySync
from protocol.topics import DEFAULT
from registry.actors import Actor
from registry.agreements import service as agreements
from registry.agreements.models import AgreementCreate, SharingAgreement
from registry.db import unit_of_work
from registry.events import RegistryChanges, RegistryEvent


def _lapsed_agreement(engine: Engine) -> int:
    now = datetime.now(UTC)
    body = AgreementCreate(
        consumer="xzsp",
        element="person.si_months_paid",
        service_item="330100-GZF-001",
        legal_basis="测试",
        valid_from=now - timedelta(days=2),
        valid_until=now - timedelta(seconds=1),
        status="approved",
    )
    with unit_of_work(engine) as session:
        return agreements.create(
            session=session, agreement_in=body, actor=Actor(name="steward", steward=True)
        ).id  # type: ignore[return-value]


def test_the_periodic_check_expires_lapsed_agreements_and_announces_it(registry_engine: Engine) -> None:
    agreement_id = _lapsed_agreement(registry_engine)
    changes = RegistryChanges()
    seen: list[RegistryEvent] = []
    changes.subscribe_events(seen.extend)
    sync = RegistrySync(
        engine=registry_engine, changes=changes, kafka_config=None, names=DEFAULT, expiry_check_s=0.05
    )

    async def run() -> None:
        await sync.start()
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        await sync.stop()

    # Its own thread and loop: the test does not depend on what loop (if any) the suite left running here.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result(timeout=30)
    with Session(registry_engine) as session:
        assert session.get(SharingAgreement, agreement_id).status == "expired"  # type: ignore[union-attr]
    assert [(e.type, e.code) for e in seen] == [("agreement.expired", str(agreement_id))]
    assert sync.expire_now() == 0  # nothing left to expire: nothing announced
    assert len(seen) == 1

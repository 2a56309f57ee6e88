"""The gateway application factory: registry API and query API on one database."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine

from exchange.audit.writer import AuditWriter
from exchange.catalogue_cache import CatalogueCache
from exchange.crypto import PlatformKeys
from exchange.queries.api import router as queries_router
from exchange.queries.service import QueryService
from exchange.settings import GatewaySettings
from exchange.transport.base import Transport
from registry import db
from registry.api import router as registry_router
from registry.events import RegistryChanges
from registry.web.problems import install_problem_handlers

log = logging.getLogger(__name__)
EXCHANGE_MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the registry's and the gateway's tables to the latest revision."""
    db.upgrade(engine)
    db.upgrade(engine, script_location=EXCHANGE_MIGRATIONS)


def build_transport(settings: GatewaySettings) -> Transport:
    """The transport the settings ask for."""
    if settings.transport == "kafka":
        from exchange.transport.kafka import KafkaTransport

        return KafkaTransport(
            settings.kafka_client_config(),
            reply_partition=settings.reply_partition,
            reply_partitions=settings.reply_partitions,
            request_partitions=settings.request_partitions,
        )
    from exchange.transport.memory import MemoryTransport

    return MemoryTransport()


def create_app(
    settings: GatewaySettings | None = None,
    *,
    transport: Transport | None = None,
    prepare: Callable[[Engine], None] | None = None,
) -> FastAPI:
    """Build the gateway app; migrations (then `prepare`, e.g. sample data) run in its lifespan."""
    settings = settings or GatewaySettings()
    chosen = transport or build_transport(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.make_engine(settings.database_url)
        migrate(engine)
        if prepare is not None:
            prepare(engine)
        cache = CatalogueCache(engine, max_age_s=settings.catalogue_refresh_s)
        changes = RegistryChanges()
        changes.subscribe(cache.invalidate)
        catalogue = await cache.current()
        await chosen.start(sorted(catalogue.departments))
        writer = AuditWriter(engine, max_batch=settings.audit_batch_max)
        await writer.start()
        app.state.engine = engine
        app.state.registry_changes = changes
        app.state.catalogue = cache
        app.state.transport = chosen
        app.state.query_service = QueryService(
            engine=engine,
            catalogue=cache,
            transport=chosen,
            writer=writer,
            keys=PlatformKeys(settings.platform_key.get_secret_value().encode()),
            gateway_id=settings.gateway_id,
            source_timeout_s=settings.source_timeout_s,
            max_elements=settings.max_elements_per_query,
        )
        try:
            yield
        finally:
            await writer.stop()
            await chosen.stop()
            engine.dispose()

    app = FastAPI(
        title="Shuyuan (数源) exchange",
        version="0.1.0",
        description="Cross-department government data-sharing exchange: registry and query gateway. "
        "Errors are RFC 9457 problem+json with a stable `reason` code.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(registry_router)
    app.include_router(queries_router)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    return app

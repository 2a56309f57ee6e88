"""The gateway application factory: registry API and query API on one database."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.applications import Starlette

from console.app import create_console
from console.citizen.app import CALLBACK_PATH as CITIZEN_CALLBACK
from console.citizen.app import MOUNT_PATH as CITIZEN_PATH
from console.citizen.app import create_citizen
from console.citizen.settings import CitizenSettings
from console.settings import ConsoleSettings
from exchange import db as exchange_db
from exchange.audit.api import router as audit_router
from exchange.audit.lag import SealerLagProbe
from exchange.audit.registry_audit import audit_registry_changes
from exchange.audit.wiring import build_audit_path
from exchange.auth.denials import audit_denial, install_denial_audit
from exchange.auth.fastapi import include_protected, registry_scope, require_scope, start_auth
from exchange.auth.fastapi import router as auth_router
from exchange.bulk.api import router as bulk_router
from exchange.catalogue_cache import CatalogueCache
from exchange.consent.api import install_consent
from exchange.consent.gate import ConsentGate
from exchange.consent.settings import ConsentSettings
from exchange.corrections.api import corrections_state, install_corrections
from exchange.corrections.settings import CorrectionsSettings
from exchange.crypto import PlatformKeys
from exchange.dead_letters import DeadLetterAuditor
from exchange.events.api import install_events
from exchange.events.redelivery import Redeliverer
from exchange.events.settings import EventsSettings
from exchange.prefill.api import router as prefill_router
from exchange.queries.api import router as queries_router
from exchange.queries.async_runs import AsyncQueries
from exchange.queries.callbacks import CallbackSender
from exchange.queries.service import QueryService
from exchange.readiness import check_readiness
from exchange.registry_sync import RegistrySync
from exchange.request_signing import RequestSigner
from exchange.settings import GatewaySettings
from exchange.state import EventsState, GatewayState
from exchange.transparency.api import install_transparency, transparency_state
from exchange.transparency.settings import TransparencySettings
from exchange.transport.base import Transport
from registry import db
from registry.api import router as registry_router
from registry.events import RegistryChanges
from registry.keys.directory import KeyDirectory
from registry.settings import RegistrySettings
from registry.state import attach, state_of
from shuyuan.dev_idp import mount as dev_idp
from web.bodylimit import BodyLimit
from web.problems import install_problem_handlers

log = logging.getLogger(__name__)


def migrate(engine: Engine) -> None:
    """Bring the registry's and the gateway's tables to the latest revision."""
    exchange_db.upgrade(engine)


def build_transport(settings: GatewaySettings) -> Transport:
    """The transport the settings ask for."""
    if settings.transport == "kafka":
        from exchange.transport.kafka import KafkaTransport

        return KafkaTransport(
            settings.kafka_client_config(),
            names=settings.kafka_names(),
            reply_partition=settings.reply_partition,
            reply_partitions=settings.reply_partitions,
            request_partitions=settings.request_partitions,
        )
    from exchange.transport.memory import MemoryTransport

    return MemoryTransport()


@dataclass(frozen=True, kw_only=True)
class AppState(GatewayState):
    """The application state, built once by the lifespan: the gateway's, plus what only the root runs."""

    registry_sync: RegistrySync
    sealer_lag: SealerLagProbe | None  # Kafka audit path: readiness watches the sealer


def app_state(app: Starlette) -> AppState:
    """The state of an app built by create_app (raises while its lifespan has not run)."""
    return state_of(app, AppState)


async def _audit_oversized(app: FastAPI, path: str, reason: str) -> None:
    """A body refused by the size limit is a refused request like any other: audited."""
    await audit_denial(app, path=path, reason=reason)


def create_app(
    settings: GatewaySettings | None = None,
    *,
    transport: Transport | None = None,
    prepare: Callable[[Engine], object] | None = None,
    console_settings: ConsoleSettings | None = None,
    registry_settings: RegistrySettings | None = None,
    transparency_settings: TransparencySettings | None = None,
    corrections_settings: CorrectionsSettings | None = None,
    events_settings: EventsSettings | None = None,
    citizen_settings: CitizenSettings | None = None,
    base_url: str | None = None,
    dev_idp_key_file: Path | None = None,
) -> FastAPI:
    """Build the gateway app; migrations (then `prepare`, e.g. sample data) run in its lifespan.

    `base_url`: where browsers reach this app when SHUYUAN_PUBLIC_URL is unset (`shuyuan run` passes
    its host and port): the citizen page's redirect URI and the development provider's issuer.
    `dev_idp_key_file`: where the development provider keeps its signing key (unset: a new one per
    process); see shuyuan/dev_idp/mount.py for when that provider is mounted at all.
    """
    settings = settings or GatewaySettings()
    # One environment for both halves: the registry's callback-URL rule follows the gateway's setting.
    registry_settings = registry_settings or RegistrySettings().model_copy(
        update={"environment": settings.environment}
    )
    transparency: TransparencySettings = transparency_settings or TransparencySettings()
    corrections_settings = corrections_settings or CorrectionsSettings()
    consent_settings = ConsentSettings()
    events_settings = events_settings or EventsSettings()
    chosen = transport or build_transport(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.make_engine(settings.database_url)
        migrate(engine)
        if prepare is not None:
            prepare(engine)
        auth = start_auth(app, settings=settings, engine=engine)
        cache = CatalogueCache(engine, max_age_s=settings.catalogue_refresh_s)
        changes = RegistryChanges()
        changes.subscribe(cache.invalidate)
        key_directory = KeyDirectory(engine, max_age_s=settings.key_cache_s)
        changes.subscribe(key_directory.invalidate)  # a revocation is seen by the very next query
        # Registry change events to and from other processes over Kafka, and periodic agreement expiry.
        registry_sync = RegistrySync(
            engine=engine,
            changes=changes,
            kafka_config=settings.kafka_client_config() if settings.transport == "kafka" else None,
            names=settings.kafka_names(),
            expiry_check_s=registry_settings.expiry_check_s,
        )
        await registry_sync.start()
        catalogue = await cache.current()
        await chosen.start(sorted(catalogue.departments))
        writer = build_audit_path(
            audit=settings.audit,
            engine=engine,
            transport=settings.transport,
            kafka_config=settings.audit_kafka_config(),
            gateway_id=settings.gateway_id,
            max_batch=settings.audit_batch_max,
            topic=settings.kafka_names().audit_topic,
        )
        await writer.start()
        audit_registry_changes(changes, writer, gateway=settings.gateway_id)
        # Kafka mode: what sources refuse (unsigned, replayed, expired requests ...) is audited too.
        dead_letters = (
            DeadLetterAuditor(
                settings.kafka_client_config(),
                writer,
                names=settings.kafka_names(),
                gateway_id=settings.gateway_id,
            )
            if settings.transport == "kafka"
            else None
        )
        if dead_letters is not None:
            await dead_letters.start()
        sealer_lag = (
            SealerLagProbe(
                settings.audit_kafka_config(),
                topic=settings.kafka_names().audit_topic,
                group=settings.kafka_names().sealer_group,
            )
            if settings.audit.uses_kafka(settings.transport)
            else None
        )
        platform_keys = PlatformKeys(
            blind_index_secret=settings.blind_index_secret(), sealing_secrets=settings.sealing_secrets()
        )
        request_signer = RequestSigner.from_entries(settings.request_signing_entries())
        corrections = corrections_state(
            corrections_settings,
            engine=engine,
            writer=writer,
            gateway_id=settings.gateway_id,
            transport=chosen,
            key_directory=key_directory,
            platform_keys=platform_keys,
            signer=request_signer,
            first_retry_s=events_settings.backoff_s,
        )
        events = EventsState(
            settings=events_settings,
            redeliverer=Redeliverer(
                engine=engine,
                writer=writer,
                transport=chosen,
                gateway_id=settings.gateway_id,
                settings=events_settings,
            ),
        )
        query_service = QueryService(
            engine=engine,
            catalogue=cache,
            transport=chosen,
            writer=writer,
            keys=platform_keys,
            key_directory=key_directory,
            request_signer=request_signer,
            gateway_id=settings.gateway_id,
            source_timeout_s=settings.source_timeout_s,
            max_elements=settings.max_elements_per_query,
            max_skew_s=settings.request_max_skew_s,
            record_ttl_s=settings.query_record_ttl_s,
            disputes=corrections.disputes,  # 异议标注 on every answer of a disputed value
            consent=ConsentGate(  # 单独同意: elements that wait for the subject's consent
                engine=engine,
                keys=platform_keys,
                settings=consent_settings,
                gateway_id=settings.gateway_id,
            ),
        )
        async_queries = AsyncQueries(
            engine=engine,
            service=query_service,
            writer=writer,
            keys=platform_keys,
            callbacks=CallbackSender(
                signer=request_signer,
                writer=writer,
                attempts=settings.callback_attempts,
                backoff_s=settings.callback_backoff_s,
                timeout_s=settings.callback_timeout_s,
            ),
            gateway_id=settings.gateway_id,
            result_ttl_s=settings.async_result_ttl_s,
            run_max_s=settings.async_run_max_s,
            sweep_s=settings.async_sweep_s,
        )
        state = AppState(
            engine=engine,
            changes=changes,
            registry_settings=registry_settings,
            settings=settings,
            transport=chosen,
            catalogue=cache,
            key_directory=key_directory,
            audit_writer=writer,
            platform_keys=platform_keys,
            request_signer=request_signer,
            query_service=query_service,
            async_queries=async_queries,
            auth=auth,
            transparency=transparency_state(transparency),
            corrections=corrections,
            events=events,
            consent_settings=consent_settings,
            registry_sync=registry_sync,
            sealer_lag=sealer_lag,
        )
        attach(app, state)  # the one attribute of app.state (registry/state.py)
        await corrections.escalator.start()  # overdue corrections escalated to the stewards
        await corrections.recall_sweep.start()  # fixed values recalled to their earlier receivers
        await events.redeliverer.start()  # unacknowledged event copies sent again, then overdue
        await async_queries.start_sweeping()  # expired async results dropped, lost runs failed
        try:
            yield
        finally:
            await async_queries.stop()
            await events.redeliverer.stop()
            await corrections.recall_sweep.stop()
            await corrections.escalator.stop()
            if dead_letters is not None:
                await dead_letters.stop()
            await registry_sync.stop()
            await writer.stop()
            if sealer_lag is not None:
                sealer_lag.close()
            await chosen.stop()
            engine.dispose()

    app = FastAPI(
        title="Shuyuan (数源) exchange",
        version="0.1.0",
        description="Cross-department government data-sharing exchange: registry and query gateway. "
        "Errors are RFC 9457 problem+json with a stable `reason` code.",
        lifespan=lifespan,
    )
    public_base = (settings.public_url or base_url or "http://127.0.0.1:8000").rstrip("/")
    if dev_idp.wanted(settings.environment, transparency, public_base):
        # No real provider configured in development or test: sign citizens in with the development one.
        transparency = dev_idp.install_dev_provider(
            app,
            environment=settings.environment,
            base_url=public_base,
            transparency=transparency,
            key_file=dev_idp_key_file,
        )
    install_problem_handlers(app)
    install_denial_audit(app)
    imports = dict.fromkeys(("/v1/catalogue/import", "/console/catalogue/import"), settings.max_import_bytes)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, on_refused=_audit_oversized, larger=imports
    )
    # Every router is included through include_protected; the lifespan refuses to start with an open
    # route outside the public allow-list of exchange/auth/fastapi.py.
    app.include_router(auth_router)
    include_protected(app, registry_router, registry_scope)
    include_protected(app, queries_router, require_scope("query"))
    include_protected(app, bulk_router, require_scope("query"))  # many subjects, NDJSON
    include_protected(app, prefill_router, require_scope("query"))  # 一件事: a service item's materials
    include_protected(app, audit_router, require_scope("audit:read"))
    install_transparency(app)  # citizens' view (ID tokens) and restrictions
    install_corrections(app)  # 纠错: scope `corrections`
    install_events(app)  # 双告知: scope `events`
    install_consent(app)  # 单独同意: the citizen's answers (ID token), the department's view

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "not ready: see `checks`"}})
    async def readyz() -> JSONResponse:
        """Readiness: the database answers, the audit path takes writes, the sealer keeps up."""
        state = app_state(app)
        readiness = await check_readiness(
            engine=state.engine,
            audit=state.audit_writer,
            lag=state.sealer_lag,
            max_lag=settings.audit.sealer_max_lag,
        )
        return JSONResponse(readiness.body(), status_code=200 if readiness.ready else 503)

    # The stewards' console: its own small app (HTML error pages, session cookie scoped to /console),
    # reaching this app's typed state (engine, registry changes, ...) once the lifespan has built it.
    console = create_console(console_settings or ConsoleSettings(), host=app)
    app.mount("/console", console)
    # The citizen page (数据使用记录): its own small app and cookie too, signed in with OpenID Connect.
    citizen = create_citizen(
        citizen_settings or CitizenSettings(), host=app, redirect_uri=public_base + CITIZEN_CALLBACK
    )
    app.mount(CITIZEN_PATH, citizen)
    return app

"""The gateway's typed view of the application state, built once by the composition root's lifespan.

`gateway_state` is the one way gateway code reaches it from a request; exchange/deps.py wraps it as
`GatewayStateDep`. It lives here rather than in deps.py because deps.py imports the auth adapter
(exchange/auth/fastapi.py), which needs the state itself.
"""

from dataclasses import dataclass

from fastapi import Request

from exchange.audit.publisher import AuditPublisher
from exchange.audit.settings import AuditSettings
from exchange.audit.writer import AuditWriter
from exchange.auth.core import TokenAuthority
from exchange.catalogue_cache import CatalogueCache
from exchange.consent.settings import ConsentSettings
from exchange.corrections.disputes import DisputeIndex
from exchange.corrections.escalation import Escalator
from exchange.corrections.recall_events import Recaller
from exchange.corrections.settings import CorrectionsSettings
from exchange.crypto import PlatformKeys
from exchange.events.redelivery import Redeliverer
from exchange.events.settings import EventsSettings
from exchange.periodic import PeriodicTask
from exchange.queries.async_runs import AsyncQueries
from exchange.queries.service import QueryService
from exchange.ratelimit import RateLimiter
from exchange.request_signing import RequestSigner
from exchange.settings import GatewaySettings
from exchange.transparency.oidc import IdTokenVerifier
from exchange.transparency.settings import TransparencySettings
from exchange.transport.base import Transport
from registry.keys.directory import KeyDirectory
from registry.state import RegistryState, state_of


@dataclass(frozen=True, kw_only=True)
class AuthState:
    """The token endpoint's and the bearer check's parts (built by exchange/auth/fastapi.py:start_auth)."""

    token_authority: TokenAuthority
    rate_limiter: RateLimiter


@dataclass(frozen=True, kw_only=True)
class TransparencyState:
    """The citizens' view: its settings and the ID token verifier of the identity provider."""

    settings: TransparencySettings
    verifier: IdTokenVerifier


@dataclass(frozen=True, kw_only=True)
class CorrectionsState:
    """Corrections: their settings, the dispute flag's lookup and the deadline check."""

    settings: CorrectionsSettings
    disputes: DisputeIndex
    escalator: Escalator
    recaller: Recaller  # the recall of a fixed value to its earlier receivers
    recall_sweep: PeriodicTask


@dataclass(frozen=True, kw_only=True)
class EventsState:
    """Events: their settings and the redelivery task."""

    settings: EventsSettings
    redeliverer: Redeliverer


@dataclass(frozen=True, kw_only=True)
class GatewayState(RegistryState):
    """Everything the gateway's routes share: the registry's part, plus transport, keys, audit, auth."""

    settings: GatewaySettings
    transport: Transport
    catalogue: CatalogueCache
    key_directory: KeyDirectory
    audit_writer: AuditWriter | AuditPublisher  # denials are audited too (exchange/auth/denials.py)
    platform_keys: PlatformKeys
    request_signer: RequestSigner  # signs every request to a source; its JWKS is public
    async_queries: AsyncQueries | None = None  # 202 answers, their stored results and callbacks
    query_service: QueryService
    auth: AuthState
    transparency: TransparencyState
    corrections: CorrectionsState
    events: EventsState
    consent_settings: ConsentSettings

    @property
    def audit_settings(self) -> AuditSettings:
        """The audit path's settings (part of the gateway's)."""
        return self.settings.audit


def gateway_state(request: Request) -> GatewayState:
    """The gateway's application state (raises if the app's lifespan has not built it)."""
    return state_of(request.app, GatewayState)

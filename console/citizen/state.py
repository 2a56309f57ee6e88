"""The citizen app's state: its settings, where the provider sends the citizen back, the gateway."""

from dataclasses import dataclass

from fastapi import Request
from starlette.applications import Starlette

from console.citizen.settings import CitizenSettings
from exchange.state import GatewayState
from registry.state import state_of


@dataclass(frozen=True, kw_only=True)
class CitizenState:
    """Built once by the app factory; the gateway's typed state is reached through `host`."""

    settings: CitizenSettings
    host: Starlette
    redirect_uri: str  # registered at the provider: {public base URL}/citizen/callback

    @property
    def gateway(self) -> GatewayState:
        """The gateway's typed state (engine, keys, audit writer, transparency verifier)."""
        return state_of(self.host, GatewayState)


def citizen_state(request: Request) -> CitizenState:
    """The one way a citizen page reaches shared state."""
    return state_of(request.app, CitizenState)

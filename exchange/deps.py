"""FastAPI dependencies of the gateway."""

from typing import Annotated

from fastapi import Depends

from exchange.auth.core import Principal
from exchange.auth.fastapi import authenticated_client, require_scope
from exchange.queries.service import QueryService
from exchange.state import GatewayState, gateway_state

GatewayStateDep = Annotated[GatewayState, Depends(gateway_state)]


def query_service(state: GatewayStateDep) -> QueryService:
    """The gateway's query service."""
    return state.query_service


def calling_department(principal: Annotated[Principal, Depends(require_scope("query"))]) -> str:
    """The department of the authenticated system (its access token needs the `query` scope)."""
    return principal.department


QueryServiceDep = Annotated[QueryService, Depends(query_service)]
PrincipalDep = Annotated[Principal, Depends(authenticated_client)]
Consumer = Annotated[str, Depends(calling_department)]

"""FastAPI dependencies of the gateway."""

from typing import Annotated

from fastapi import Depends, Header, Request

from exchange.queries.service import QueryService
from protocol.errors import Unauthenticated

CONSUMER_HEADER = "X-Consumer-Department"


def query_service(request: Request) -> QueryService:
    """The gateway's query service."""
    return request.app.state.query_service  # type: ignore[no-any-return]


def calling_department(
    x_consumer_department: Annotated[
        str | None,
        Header(
            alias=CONSUMER_HEADER,
            description="Code of the calling department. Interim identification until OAuth2 "
            "client authentication (private_key_jwt) replaces it.",
        ),
    ] = None,
) -> str:
    """Who is calling; unauthenticated without the header."""
    if not x_consumer_department:
        raise Unauthenticated(f"the {CONSUMER_HEADER} header is required")
    return x_consumer_department[:32]


QueryServiceDep = Annotated[QueryService, Depends(query_service)]
Consumer = Annotated[str, Depends(calling_department)]

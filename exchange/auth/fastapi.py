"""The thin FastAPI adapter of exchange.auth.core: the token endpoint, the JWKS, and dependencies.

Every route is authenticated unless its path is on the short public allow-list below: routers are
included through `include_protected`, and `assert_all_protected` refuses to start an app holding a
route that bypasses it (so a new router cannot be exposed by accident).
"""

import asyncio
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from exchange.auth.core import (
    ASSERTION_ALGS,
    ASSERTION_TYPE,
    ClientDisabled,
    InsufficientScope,
    InvalidClient,
    InvalidToken,
    Principal,
    TokenAuthority,
    token_signing_keys,
)
from exchange.auth.store import AuthStore
from exchange.ratelimit import RateLimiter
from exchange.settings import GatewaySettings
from exchange.state import AuthState, gateway_state
from protocol.errors import InvalidRequest
from registry.systems.models import SCOPES
from web.problems import PROBLEM_JSON

PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/oauth/token", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
    # Citizens sign in with an OpenID Connect ID token instead (exchange/transparency/api.py).
    | {"/v1/transparency/accesses"}
)
# The console has its own session login (console); /.well-known holds public metadata only; the
# citizen page signs citizens in with OpenID Connect (console/citizen); /dev-idp is the development
# identity provider, mounted only in development and test (shuyuan/dev_idp). The citizen's consent
# requests and answers are authenticated by the ID token too (exchange/consent).
PUBLIC_PREFIXES = ("/.well-known/", "/console", "/citizen", "/dev-idp", "/v1/transparency/consents")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_bearer = HTTPBearer(auto_error=False, description="An access token from POST /oauth/token")


def is_public(path: str) -> bool:
    """Whether a path is served without an access token."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def issuer(request: Request) -> str:
    """This gateway's issuer URL: SHUYUAN_PUBLIC_URL, else the URL the request was sent to."""
    configured = gateway_state(request).settings.public_url
    return configured or f"{request.url.scheme}://{request.url.netloc}"


async def authenticated_client(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller, from its bearer token; 401 without a valid one, 403 when disabled, 429 when too fast."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("an access token is required (Authorization: Bearer ...)")
    auth = gateway_state(request).auth
    try:
        principal = await asyncio.to_thread(
            auth.token_authority.validate, credentials.credentials, issuer=issuer(request)
        )
    except ClientDisabled as exc:
        request.state.principal = Principal(exc.client_id, exc.department, frozenset(), "")
        raise
    request.state.principal = principal
    auth.rate_limiter.check(principal.client_id)
    return principal


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that admits only tokens granting `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def _check(principal: Annotated[Principal, Depends(authenticated_client)]) -> Principal:
        if not principal.has(scope):
            raise InsufficientScope(scope)
        return principal

    return _check


def registry_scope(
    request: Request, principal: Annotated[Principal, Depends(authenticated_client)]
) -> Principal:
    """Registry reads need `registry:read`, writes `registry:write`."""
    scope = "registry:read" if request.method in _READ_METHODS else "registry:write"
    if not principal.has(scope):
        raise InsufficientScope(scope)
    return principal


def include_protected(app: FastAPI, router: APIRouter, *dependencies: Callable[..., Any]) -> None:
    """Include a router whose every route needs an access token (plus the given dependencies)."""
    app.include_router(
        router, dependencies=[Depends(authenticated_client), *(Depends(d) for d in dependencies)]
    )


def assert_all_protected(app: FastAPI) -> None:
    """Raise if any non-public route can be reached without authenticated_client."""
    open_routes = []
    # iter_route_contexts sees through included routers, with the dependencies they were included with.
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if is_public(path):
            continue
        if isinstance(context.original_route, APIRoute) and authenticated_client in _calls(context.dependant):
            continue
        # Anything else (a mount, a plain Starlette route) cannot carry the dependency: refuse it.
        open_routes.append(f"{sorted(context.methods or [])} {path}")
    if open_routes:
        raise RuntimeError(f"routes without authentication: {', '.join(open_routes)}")


def _calls(dependant: Dependant) -> Iterable[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


router = APIRouter(tags=["auth"])
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


@router.post(
    "/oauth/token",
    responses={
        400: {
            "description": "`invalid_request`: unsupported grant type or scope (`error` per RFC 6749)",
            **_PROBLEM,
        },
        401: {
            "description": "`unauthenticated`: the client assertion is not valid (`invalid_client`)",
            **_PROBLEM,
        },
        403: {"description": "`client_disabled`", **_PROBLEM},
        422: {"description": "`invalid_request`: a form field is missing or malformed", **_PROBLEM},
        429: {"description": "`rate_limited`", **_PROBLEM},
    },
)
async def token(
    request: Request,
    response: Response,
    grant_type: Annotated[str, Form(max_length=64, description="`client_credentials`")],
    client_assertion_type: Annotated[str, Form(max_length=128, description=f"`{ASSERTION_TYPE}`")],
    client_assertion: Annotated[str, Form(max_length=8192, description="The private_key_jwt assertion")],
    scope: Annotated[str | None, Form(max_length=500, description="Space-separated scopes")] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
) -> dict[str, Any]:
    """OAuth2 client credentials grant with private_key_jwt client authentication (RFC 7523).

    Returns a short-lived JWT access token (RFC 9068) for `Authorization: Bearer`.
    """
    if grant_type != "client_credentials":
        raise InvalidRequest("only the client_credentials grant is supported", error="unsupported_grant_type")
    if client_assertion_type != ASSERTION_TYPE:
        raise InvalidClient("client authentication must be private_key_jwt")
    base = issuer(request)
    auth = gateway_state(request).auth
    authority = auth.token_authority
    try:
        client, kid = await asyncio.to_thread(
            authority.authenticate_client,
            client_assertion,
            endpoint_urls=[f"{base}/oauth/token", base],
            client_id=client_id,
        )
    except ClientDisabled as exc:
        request.state.principal = Principal(exc.client_id, exc.department, frozenset(), "")
        raise
    request.state.principal = Principal(client.client_id, client.department, frozenset(), "")
    auth.rate_limiter.check(f"token:{client.client_id}")
    issued = authority.issue(client, key_id=kid, issuer=base, scope=scope)
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 §5.1: a token response is never cached
    response.headers["Pragma"] = "no-cache"
    return {
        "access_token": issued.access_token,
        "token_type": issued.token_type,
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }


@router.get("/.well-known/jwks.json")
async def jwks(request: Request) -> dict[str, Any]:
    """The public keys that verify this gateway's access tokens."""
    return gateway_state(request).auth.token_authority.jwks()


@router.get("/.well-known/request-jwks.json")
async def request_jwks(request: Request) -> dict[str, Any]:
    """The public keys that verify this gateway's requests to sources (connectors pin a copy)."""
    return gateway_state(request).request_signer.jwks()


@router.get("/.well-known/oauth-authorization-server")
async def metadata(request: Request) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414)."""
    base = issuer(request)
    return {
        "issuer": base,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": sorted(ASSERTION_ALGS),
        "scopes_supported": list(SCOPES),
        "response_types_supported": [],
    }


def start_auth(app: FastAPI, *, settings: GatewaySettings, engine: Engine) -> AuthState:
    """Authentication of a starting app (from its lifespan): refuses to start with an open route."""
    assert_all_protected(app)
    # SHUYUAN_TOKEN_SIGNING_KEY (the platform key in development): every instance holds the same keys.
    signing, *others = token_signing_keys(settings.token_signing_entries())
    return AuthState(
        token_authority=TokenAuthority(
            store=AuthStore(engine),
            signing_key=signing,
            verify_keys=others,
            audience=settings.token_audience,
            token_ttl_s=settings.token_ttl_s,
        ),
        rate_limiter=RateLimiter(rate=settings.rate_limit_per_s, burst=settings.rate_limit_burst),
    )

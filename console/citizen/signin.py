"""Sign-in with OpenID Connect: authorization code flow with PKCE, `state` and `nonce` (authlib).

The provider is discovered from {issuer}/.well-known/openid-configuration; authlib builds the
authorization request (state, S256 code challenge) and redeems the code; the ID token is then checked
by the gateway's own verifier (exchange/transparency/oidc.py: signature against the discovered JWKS,
issuer, audience, times, and the nonce this flow sent). Nothing of the token is kept.
"""

import asyncio
import time
import warnings
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from fastapi import Request

from console.citizen.settings import CitizenSettings
from exchange.state import GatewayState
from exchange.transparency.discovery import ProviderMetadata
from exchange.transparency.oidc import Citizen
from protocol.errors import Unauthenticated

with warnings.catch_warnings():
    # authlib >= 1.7 announces a move to the httpx2 package; this project uses httpx, which it supports.
    warnings.simplefilter("ignore")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

MAX_PENDING_FLOWS = 3  # sign-ins started in other tabs stay valid; older ones are dropped


class SignInRefused(Exception):
    """The sign-in did not come back as one this page started, or its ID token was refused."""

    def __init__(self, key: str, detail: str | None = None) -> None:
        super().__init__(key)
        self.key = key  # an i18n key naming the kind of failure
        self.detail = detail  # the verifier's detail: names the check, never a claim value


def client_id_of(settings: CitizenSettings, gateway: GatewayState) -> str:
    """The page's client id at the provider (by default the audience the verifier accepts)."""
    audience = gateway.transparency.settings.oidc_audience
    chosen = settings.client_id or audience
    assert chosen is not None, "sign-in is only offered with an issuer, which needs an audience"
    return chosen


def _client(settings: CitizenSettings, gateway: GatewayState, redirect_uri: str) -> AsyncOAuth2Client:
    secret = settings.client_secret.get_secret_value() if settings.client_secret else None
    return AsyncOAuth2Client(
        client_id=client_id_of(settings, gateway),
        client_secret=secret,
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
        scope="openid",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=gateway.transparency.settings.jwks_timeout_s,
    )


async def metadata(gateway: GatewayState) -> ProviderMetadata:
    """The provider's endpoints (discovered, cached by the gateway's verifier)."""
    return await asyncio.to_thread(gateway.transparency.verifier.discovery.metadata)


async def start(
    request: Request, *, settings: CitizenSettings, gateway: GatewayState, redirect_uri: str
) -> str:
    """Begin a sign-in: remember state, nonce and PKCE verifier in the session; the provider's URL."""
    endpoints = await metadata(gateway)
    verifier, nonce = generate_token(64), generate_token(32)
    async with _client(settings, gateway, redirect_uri) as client:
        url, state = client.create_authorization_url(
            endpoints.authorization_endpoint, code_verifier=verifier, nonce=nonce
        )
    flows: dict[str, Any] = request.session.get("flows", {})
    flows[state] = {"nonce": nonce, "verifier": verifier, "t": time.time()}
    newest = sorted(flows.items(), key=lambda kv: kv[1]["t"])[-MAX_PENDING_FLOWS:]
    request.session["flows"] = dict(newest)
    return str(url)


async def finish(
    request: Request, *, settings: CitizenSettings, gateway: GatewayState, redirect_uri: str
) -> Citizen:
    """Complete a sign-in from the provider's redirect: check state, redeem the code, verify the token."""
    params = request.query_params
    flows: dict[str, Any] = request.session.get("flows", {})
    # The flow is used up whatever happens next: a second try with the same state is refused.
    flow = flows.pop(params.get("state", ""), None)
    request.session["flows"] = flows
    if flow is None or time.time() - float(flow["t"]) > settings.flow_timeout_s:
        raise SignInRefused("citizen.refused.state")
    if "error" in params:
        raise SignInRefused("citizen.refused.provider", params.get("error", "")[:64])
    code = params.get("code")
    if not code:
        raise SignInRefused("citizen.refused.provider", "no code")
    endpoints = await metadata(gateway)
    async with _client(settings, gateway, redirect_uri) as client:
        try:
            token = await client.fetch_token(
                endpoints.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=flow["verifier"],
            )
        except (OAuthError, OSError, ValueError, httpx.HTTPError) as exc:
            raise SignInRefused("citizen.refused.code", getattr(exc, "error", None)) from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SignInRefused("citizen.refused.code", "no id_token")
    try:
        return await asyncio.to_thread(gateway.transparency.verifier.verify, id_token, nonce=flow["nonce"])
    except Unauthenticated as exc:
        raise SignInRefused("citizen.refused.token", exc.detail) from exc


def masked(subject_id: str) -> str:
    """What the page shows of the signed-in identifier: its first 4 and last 4 characters."""
    return subject_id[:4] + "*" * (len(subject_id) - 8) + subject_id[-4:]

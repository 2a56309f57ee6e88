"""The development provider's routes: discovery, JWKS, authorize (a form to pick a subject) and token.

Authorization code flow with PKCE only (RFC 7636, S256): codes are single-use, live 60 s and are bound
to the client, the redirect URI, the code challenge and the nonce of their authorization request.
ID tokens are signed with an Ed25519 key generated at first start (RFC 9864 `alg: Ed25519`).
"""

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from joserfc import jwt
from joserfc.jwk import OKPKey

from protocol.identifiers import InvalidSubjectId, SubjectType, normalise_subject_id

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CODE_TTL_S = 60
ID_TOKEN_TTL_S = 300
_AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge")


@dataclass(frozen=True)
class DevSubject:
    """A sample subject offered on the form."""

    label: str
    subject_type: SubjectType
    subject_id: str


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    subject_type: SubjectType
    subject_id: str
    expires: float


@dataclass
class DevProvider:
    """The provider's configuration and its issued, not yet redeemed codes."""

    issuer: str
    key: OKPKey
    clients: dict[str, tuple[str, ...]]  # client id -> its registered redirect URIs (exact match)
    subjects: tuple[DevSubject, ...] = ()
    person_claim: str = "id_number"
    enterprise_claim: str = "uscc"
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def metadata(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0 §3)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["Ed25519"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", self.person_claim,
                                 self.enterprise_claim],
        }  # fmt: skip

    def issue_code(self, grant: _Grant) -> str:
        """A fresh single-use code for an approved authorization request."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            for stale in [c for c, g in self._codes.items() if g.expires < now]:
                del self._codes[stale]
            self._codes[code] = grant
        return code

    def redeem(self, code: str) -> _Grant | None:
        """The grant of a code, once; None when unknown, used or expired."""
        with self._lock:
            grant = self._codes.pop(code, None)
        return grant if grant is not None and grant.expires >= time.monotonic() else None

    def id_token(self, grant: _Grant) -> str:
        """An ID token for the grant's subject, signed with the provider's key."""
        now = int(time.time())
        claim = self.person_claim if grant.subject_type == "person" else self.enterprise_claim
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            # A pairwise-looking, stable sub that is not the identifier itself.
            "sub": create_s256_code_challenge(f"{self.issuer}|{grant.subject_id}")[:32],
            "iat": now,
            "exp": now + ID_TOKEN_TTL_S,
            claim: grant.subject_id,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        header = {"alg": "Ed25519", "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=["Ed25519"])


def load_or_create_key(path: Path | None) -> OKPKey:
    """The signing key: read from `path`, or generated (and written there, 0600) at first start."""
    if path is not None and path.exists():
        return OKPKey.import_key(json.loads(path.read_text(encoding="utf-8")))
    key = OKPKey.generate_key("Ed25519", parameters={"use": "sig"}, private=True)
    key.ensure_kid()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(key.as_dict(private=True)), encoding="utf-8")
    return key


def _error_page(request: Request, message: str) -> HTMLResponse:
    # RFC 6749 §4.1.2.1: with an unknown client or redirect URI, never redirect: say so here.
    return TEMPLATES.TemplateResponse(request, "dev_idp_error.html", {"message": message}, status_code=400)


def _token_error(error: str, description: str) -> JSONResponse:
    # RFC 6749 §5.2.
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=400, headers={"Cache-Control": "no-store"})


def create_dev_provider(provider: DevProvider) -> FastAPI:
    """The provider as a small app (mounted by the gateway at /dev-idp, or served alone in tests)."""
    app = FastAPI(title="Shuyuan development identity provider", docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip

    def check_request(request: Request, params: dict[str, str]) -> Response | None:
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in provider.clients.get(params.get("client_id", ""), ()):
            return _error_page(request, "unknown client_id, or a redirect_uri not registered for it")
        problem = None
        if params.get("response_type", "code") != "code":
            problem = ("unsupported_response_type", "only the authorization code flow")
        elif "openid" not in params.get("scope", "").split():
            problem = ("invalid_scope", "the scope must include openid")
        elif not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            problem = ("invalid_request", "PKCE with code_challenge_method=S256 is required")
        if problem is None:
            return None
        query = {"error": problem[0], "error_description": problem[1], "state": params.get("state", "")}
        return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=303)

    @app.get("/.well-known/openid-configuration")
    def configuration() -> dict[str, Any]:
        """Discovery."""
        return provider.metadata()

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        """The public signing key."""
        return {"keys": [provider.key.as_dict(private=False)]}

    @app.get("/authorize", response_class=HTMLResponse)
    def authorize_form(request: Request) -> Response:
        """The sign-in form: pick a sample subject or type an identifier."""
        params = dict(request.query_params)
        refused = check_request(request, params)
        if refused is not None:
            return refused
        hidden = {k: params.get(k, "") for k in _AUTHORIZE_PARAMS}
        context = {"hidden": hidden, "subjects": provider.subjects, "error": None, "issuer": provider.issuer}
        return TEMPLATES.TemplateResponse(request, "dev_idp_authorize.html", context)

    @app.post("/authorize", response_class=HTMLResponse)
    async def authorize(request: Request) -> Response:
        """Approve the request as the chosen subject: back to the client with a code."""
        form = await request.form()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        params |= {"response_type": "code", "code_challenge_method": "S256"}  # checked on the form's GET
        refused = check_request(request, params)
        if refused is not None:
            return refused
        typed = params.get("typed", "").strip()
        kind, _, value = ("", "", typed) if typed else params.get("subject", "").partition(":")
        if not kind:  # typed in: 18 characters either way; a USCC has letters where an ID has none
            kind = "person" if value[:17].isdigit() else "enterprise"
        try:
            subject_type: SubjectType = "person" if kind == "person" else "enterprise"
            subject_id = normalise_subject_id(subject_type, value)
        except InvalidSubjectId:
            hidden = {k: params.get(k, "") for k in _AUTHORIZE_PARAMS}
            context = {"hidden": hidden, "subjects": provider.subjects, "issuer": provider.issuer,
                       "error": "not a valid resident ID number (GB 11643) or USCC (GB 32100)"}  # fmt: skip
            return TEMPLATES.TemplateResponse(request, "dev_idp_authorize.html", context, status_code=400)
        grant = _Grant(
            client_id=params["client_id"],
            redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"],
            nonce=params.get("nonce") or None,
            subject_type=subject_type,
            subject_id=subject_id,
            expires=time.monotonic() + CODE_TTL_S,
        )
        query = {"code": provider.issue_code(grant), "state": params.get("state", "")}
        return RedirectResponse(f"{grant.redirect_uri}?{urlencode(query)}", status_code=303)

    @app.post("/token")
    def token(
        grant_type: Annotated[str, Form()] = "",
        code: Annotated[str, Form()] = "",
        redirect_uri: Annotated[str, Form()] = "",
        client_id: Annotated[str, Form()] = "",
        code_verifier: Annotated[str, Form()] = "",
    ) -> JSONResponse:
        """Redeem a code for an ID token (public clients: PKCE is their proof)."""
        if grant_type != "authorization_code":
            return _token_error("unsupported_grant_type", "only authorization_code")
        grant = provider.redeem(code)
        if grant is None:
            return _token_error("invalid_grant", "unknown, used or expired code")
        if grant.client_id != client_id or grant.redirect_uri != redirect_uri:
            return _token_error("invalid_grant", "the code was issued to another client or redirect_uri")
        expected = grant.code_challenge.encode()
        if not code_verifier or not secrets.compare_digest(
            create_s256_code_challenge(code_verifier).encode(), expected
        ):
            return _token_error("invalid_grant", "the code_verifier does not match the code_challenge")
        body = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": ID_TOKEN_TTL_S,
            "id_token": provider.id_token(grant),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    return app

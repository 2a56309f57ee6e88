"""A department's systems (OAuth clients), steward view: status, scopes, keys; disable/enable, revoke a key.

Only public keys are in the registry; the page shows each key's kid, algorithm and validity, never the
JWK's coordinates (nothing a reader needs, and nothing to copy from a screenshot).
"""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from console.forms import form_data
from console.web import DbDep, Reader, Steward, actor_of, flash, render
from protocol.clock import utcnow
from protocol.errors import ShuyuanError
from registry.departments.models import Department
from registry.systems import service as systems
from registry.systems.models import ClientKey, SystemUpdate

router = APIRouter(prefix="/systems")
FormDep = Annotated[dict[str, str], Depends(form_data)]


def algorithm(key: ClientKey) -> str:
    """The key's signature algorithm from its public JWK (alg if given, else by curve)."""
    jwk = json.loads(key.jwk)
    return str(jwk.get("alg") or {"Ed25519": "EdDSA", "P-256": "ES256"}.get(jwk.get("crv", ""), "?"))


def key_state(key: ClientKey) -> str:
    """revoked | usable | not_yet | expired, as systems.key_usable decides."""
    now = utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if systems.key_usable(key, now):
        return "usable"
    return "expired" if key.valid_until is not None else "not_yet"


@router.get("/{client_id}", response_class=HTMLResponse)
def system_detail(request: Request, session: DbDep, _user: Reader, client_id: str) -> HTMLResponse:
    """One system: department, status, scopes and every key with its validity."""
    system = systems.get_by_client_id_or_raise(session=session, client_id=client_id[:64])
    keys = [
        {"kid": k.kid, "alg": algorithm(k), "k": k, "state": key_state(k)}
        for k in systems.list_keys(session=session, system=system)
    ]
    context = {
        "active": "departments",
        "s": system,
        "dept": session.get(Department, system.department_id),
        "scopes": system.scopes.split(),
        "keys": keys,
    }
    return render(request, "systems/detail.html", context)


@router.post("/{client_id}/status", response_model=None)
def set_status(request: Request, session: DbDep, user: Steward, client_id: str, data: FormDep) -> Response:
    """Disable (refused from its next request on) or enable a system, through the registry's update."""
    system = systems.get_by_client_id_or_raise(session=session, client_id=client_id[:64])
    status = data.get("status", "")
    if status not in ("active", "disabled"):
        flash(request, "error", "systems.status_invalid")
    else:
        try:
            systems.update(
                session=session, system=system, system_in=SystemUpdate(status=status), actor=actor_of(user)
            )
            flash(request, "ok", "systems.status_set", client_id=system.client_id, status=status)
        except ShuyuanError as exc:
            session.rollback()
            flash(request, "error", "form.refused_code", detail=exc.detail, reason=exc.reason)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/systems/{client_id}", status_code=303)


@router.post("/{client_id}/keys/{kid}/revoke", response_model=None)
def revoke_key(request: Request, session: DbDep, user: Steward, client_id: str, kid: str) -> Response:
    """Revoke a key at once: assertions signed with it are refused from now on."""
    system = systems.get_by_client_id_or_raise(session=session, client_id=client_id[:64])
    try:
        systems.revoke_key(session=session, system=system, kid=kid[:100], actor=actor_of(user))
        flash(request, "ok", "systems.key_revoked_flash", kid=kid[:100])
    except ShuyuanError as exc:
        session.rollback()
        flash(request, "error", "form.refused_code", detail=exc.detail, reason=exc.reason)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/systems/{client_id}", status_code=303)

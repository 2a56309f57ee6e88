"""REST API of department keys: register, list, revoke, and each department's JWKS."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, status

from protocol.clock import utcnow
from registry.departments.models import DEPT_CODE_PATTERN
from registry.deps import ActorDep, SessionDep
from registry.keys import service
from registry.keys.models import KID_PATTERN, Jwks, KeyCreate, KeyRead
from web.problems import PROBLEM_JSON

router = APIRouter(prefix="/v1/departments/{code}", tags=["registry: department keys"])

Code = Annotated[str, Path(pattern=DEPT_CODE_PATTERN, max_length=32)]
Kid = Annotated[str, Path(pattern=KID_PATTERN)]
_PROBLEM: dict[str, Any] = {"content": {PROBLEM_JSON: {}}}


@router.post(
    "/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyRead,
    responses={
        400: {"description": "`invalid_request`: not a public key of the crypto profile", **_PROBLEM},
        403: {"description": "only the department itself or a data steward", **_PROBLEM},
        404: {"description": "`not_found`: no such department", **_PROBLEM},
        409: {"description": "`conflict`: the department already has this kid", **_PROBLEM},
    },
)
def register_key(code: Code, body: KeyCreate, session: SessionDep, actor: ActorDep) -> KeyRead:
    """Register a public signing or encryption key of a department (rotation: add the new key first)."""
    key = service.register(session=session, department=code, key_in=body, actor=actor)
    return service.to_read(key=key, department=code)


@router.get(
    "/keys", response_model=list[KeyRead], responses={404: {"description": "`not_found`", **_PROBLEM}}
)
def list_keys(code: Code, session: SessionDep) -> list[KeyRead]:
    """Every key of a department with its status now, revoked and expired ones included."""
    now = utcnow()
    return [
        service.to_read(key=k, department=code, now=now)
        for k in service.list_for(session=session, department=code)
    ]


@router.post(
    "/keys/{kid}/revoke",
    response_model=KeyRead,
    responses={
        403: {"description": "only the department itself or a data steward", **_PROBLEM},
        404: {"description": "`not_found`: no such department or key", **_PROBLEM},
    },
)
def revoke_key(code: Code, kid: Kid, session: SessionDep, actor: ActorDep) -> KeyRead:
    """Revoke a key at once: no gateway encrypts to it and no client accepts its signatures any more."""
    key = service.revoke(session=session, department=code, kid=kid, actor=actor)
    return service.to_read(key=key, department=code)


@router.get("/jwks.json", response_model=Jwks, responses={404: {"description": "`not_found`", **_PROBLEM}})
def department_jwks(code: Code, session: SessionDep) -> Jwks:
    """The department's currently valid public keys as a JWKS (RFC 7517)."""
    now = utcnow()
    keys = service.list_for(session=session, department=code)
    return Jwks(keys=[k.jwk for k in keys if service.status_at(k, now) == "valid"])

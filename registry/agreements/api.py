"""REST API of sharing agreements."""

from fastapi import APIRouter, status

from registry.agreements import service
from registry.agreements.models import AgreementCreate, AgreementRead
from registry.deps import SessionDep

router = APIRouter(prefix="/v1/agreements", tags=["registry: sharing agreements"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AgreementRead)
def create_agreement(body: AgreementCreate, session: SessionDep) -> AgreementRead:
    """Record a sharing agreement for a conditional element."""
    return service.to_read(session=session, agreement=service.create(session=session, agreement_in=body))


@router.get("", response_model=list[AgreementRead])
def list_agreements(session: SessionDep) -> list[AgreementRead]:
    """List every sharing agreement."""
    return [service.to_read(session=session, agreement=a) for a in service.list_all(session=session)]

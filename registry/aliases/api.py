"""REST API of the alias crosswalk: list, resolve, delete."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from registry.aliases import service
from registry.aliases.models import AliasRead, ScopeType
from registry.deps import ActorDep, PageDep, RowId, SessionDep
from registry.elements import service as elements
from registry.elements.models import ElementRead
from registry.pagination import Page

router = APIRouter(prefix="/v1/aliases", tags=["registry: aliases"])


@router.get("", response_model=Page[AliasRead])
def list_aliases(
    session: SessionDep,
    page: PageDep,
    scope_type: Annotated[ScopeType | None, Query()] = None,
    scope: Annotated[str | None, Query(max_length=32, description="department code or region code")] = None,
) -> Page[AliasRead]:
    """List aliases, optionally of one scope."""
    rows, total = service.list_(session=session, page=page, scope_type=scope_type, scope=scope)
    return Page(
        items=[service.to_read(session=session, alias=a) for a in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/resolve", response_model=ElementRead)
def resolve_alias(
    session: SessionDep,
    scope_type: Annotated[ScopeType, Query()],
    scope: Annotated[str, Query(max_length=32)],
    local_code: Annotated[str, Query(max_length=80)],
) -> ElementRead:
    """The canonical element a local code of a department or region stands for (404 `not_found` if none)."""
    element = service.resolve(session=session, scope_type=scope_type, scope=scope, local_code=local_code)
    return elements.to_read(session=session, element=element)


@router.delete("/{alias_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_alias(alias_id: RowId, session: SessionDep, actor: ActorDep) -> None:
    """Remove an alias (steward or the element's source department)."""
    service.delete(
        session=session, alias=service.get_or_raise(session=session, alias_id=alias_id), actor=actor
    )

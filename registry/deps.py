"""FastAPI dependencies of the registry API."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from registry.db import unit_of_work

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request; a committed write notifies the registry's listeners."""
    with unit_of_work(request.app.state.engine) as session:
        yield session
    if request.method not in _READ_METHODS:
        changes = getattr(request.app.state, "registry_changes", None)
        if changes is not None:
            changes.changed()


# scope="function": commit (and notify) before the response is sent, so a 201 means "stored" and the
# gateway's catalogue is already invalidated when the caller sends its next request.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

"""Who is acting on the registry, for history and workflow rules.

Interim: the caller names itself in headers until OAuth2 (the identity issue) authenticates it.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from registry.errors import Forbidden

ACTOR_HEADER = "X-Actor"
ACTOR_DEPARTMENT_HEADER = "X-Actor-Department"
ACTOR_ROLE_HEADER = "X-Actor-Role"


@dataclass(frozen=True, slots=True)
class Actor:
    """A user or system acting for a department, or a data steward (数据管理员)."""

    name: str
    department: str | None = None
    steward: bool = False

    def label(self) -> str:
        """How the actor is written to history: `name`, `name@dept` or `name (steward)`."""
        if self.steward:
            return f"{self.name} (steward)"
        return f"{self.name}@{self.department}" if self.department else self.name


ANONYMOUS = Actor(name="anonymous")


def require_steward(actor: Actor, what: str) -> None:
    """Only a data steward may do this."""
    if not actor.steward:
        raise Forbidden(f"only a data steward may {what}")


def require_steward_or(actor: Actor, department: str, what: str) -> None:
    """A steward, or someone acting for this department, may do this."""
    if not actor.steward and actor.department != department:
        raise Forbidden(f"only a data steward or department {department!r} may {what}")


def current_actor(
    request: Request,
    x_actor: Annotated[
        str | None,
        Header(alias=ACTOR_HEADER, max_length=100, description="Acting user (interim until OAuth2)"),
    ] = None,
    x_actor_department: Annotated[
        str | None,
        Header(alias=ACTOR_DEPARTMENT_HEADER, max_length=32, description="Department the user acts for"),
    ] = None,
    x_actor_role: Annotated[
        str | None,
        Header(alias=ACTOR_ROLE_HEADER, max_length=32, description="`steward` for a data steward"),
    ] = None,
) -> Actor:
    """The acting user: the authenticated client's department, the user named in the interim headers.

    When the gateway authenticated the caller (OAuth2, exchange/auth), its department is the acting
    department and a different X-Actor-Department is refused, and the steward role comes only from the
    token's `registry:steward` scope (the console passes its signed-in steward directly).
    """
    principal = getattr(request.state, "principal", None)
    department = getattr(principal, "department", None)
    if department is not None:
        if x_actor_department and x_actor_department != department:
            raise Forbidden(f"the access token acts for {department!r}, not {x_actor_department[:32]!r}")
        name = x_actor or f"system:{getattr(principal, 'client_id', department)}"
        # Behind the gateway the steward role is a scope granted to the steward's system, never a
        # header a caller could set; the header only serves the bare registry app (tests, tools).
        scopes = getattr(principal, "scopes", frozenset())
        return Actor(name=name, department=department, steward="registry:steward" in scopes)
    if not x_actor:
        return ANONYMOUS
    return Actor(name=x_actor, department=x_actor_department or None, steward=x_actor_role == "steward")


ActorDep = Annotated[Actor, Depends(current_actor)]

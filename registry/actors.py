"""Who is acting on the registry, for history and the object-level rules of every registry write.

Behind the gateway the actor comes from the access token only (registry/deps.py): the department and
system it was issued to, steward only with the `registry:steward` scope. The console's signed-in
steward acts as a steward (console/web.py). Rules: docs/registry.md, "Who may do what".
"""

from dataclasses import dataclass

from registry.errors import Forbidden


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
    if not actor.steward and (actor.department is None or actor.department != department):
        raise Forbidden(f"only a data steward or department {department[:32]!r} may {what}")

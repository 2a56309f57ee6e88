"""Who is acting on the registry, for history and workflow rules.

Interim: the caller names itself in headers until OAuth2 (the identity issue) authenticates it.
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
    if not actor.steward and actor.department != department:
        raise Forbidden(f"only a data steward or department {department!r} may {what}")

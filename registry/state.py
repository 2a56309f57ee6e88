"""The registry's typed view of the application state, and the one attribute of the app that holds it.

The composition root (shuyuan/app.py) builds a single state object in its lifespan; each layer knows it
by the part it needs (registry: `RegistryState`; the gateway extends it in exchange/state.py). A bare
registry app (tests, tools) attaches a plain `RegistryState`.
"""

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine
from starlette.applications import Starlette

from registry.events import RegistryChanges
from registry.settings import RegistrySettings

STATE_ATTR = "shuyuan"
"""The single attribute of `app.state` that carries the typed state (no other attribute is used)."""

S = TypeVar("S")


@dataclass(frozen=True, kw_only=True)
class RegistryState:
    """What the registry API needs: the database, the change listeners, the workflow settings."""

    engine: Engine
    changes: RegistryChanges
    registry_settings: RegistrySettings
    actor_headers: bool = False
    """Whether the interim X-Actor headers name the actor of a request without an access token: only a
    bare registry app (tests/registrykit.py) sets it; the gateway never does (registry/deps.py)."""


def attach(app: Starlette, state: object) -> None:
    """Hand the app its typed state (from its lifespan, or when a test builds a bare app)."""
    setattr(app.state, STATE_ATTR, state)


def find_state(app: Starlette, kind: type[S]) -> S | None:
    """The app's state seen as `kind`, or None while the app's lifespan has not attached one."""
    state = getattr(app.state, STATE_ATTR, None)
    if state is None:
        return None
    if not isinstance(state, kind):
        raise TypeError(f"the application state is a {type(state).__name__}, not a {kind.__name__}")
    return state


def state_of(app: Starlette, kind: type[S]) -> S:
    """The app's state seen as `kind`; a clear error when the app's lifespan has not run (yet)."""
    state = find_state(app, kind)
    if state is None:
        raise RuntimeError(
            f"{getattr(app, 'title', 'the app')}: no application state; it is set by the app's lifespan "
            "(in tests, use `with TestClient(app)`)"
        )
    return state

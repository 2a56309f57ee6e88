"""Who is acting: behind the gateway the token alone; the interim headers only in a bare registry app."""

from types import SimpleNamespace

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from registry.actors import Actor
from registry.deps import ActorDep
from registry.events import RegistryChanges
from registry.settings import RegistrySettings
from registry.state import RegistryState, attach
from web.problems import install_problem_handlers


def _app(principal: object | None, *, actor_headers: bool = True) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    attach(
        app,
        RegistryState(
            engine=create_engine("sqlite://"),
            changes=RegistryChanges(),
            registry_settings=RegistrySettings(),
            actor_headers=actor_headers,
        ),
    )

    @app.middleware("http")
    async def _authenticated(request: Request, call_next):  # type: ignore[no-untyped-def]
        if principal is not None:
            request.state.principal = principal  # what exchange/auth's dependency leaves behind
        return await call_next(request)

    @app.get("/whoami")
    def whoami(actor: ActorDep) -> dict[str, object]:
        return {
            "name": actor.name,
            "department": actor.department,
            "steward": actor.steward,
            "label": actor.label(),
        }

    return app


def test_without_a_token_the_headers_name_the_actor_and_nothing_means_anonymous() -> None:
    client = TestClient(_app(None))
    assert client.get("/whoami").json() == {
        "name": "anonymous",
        "department": None,
        "steward": False,
        "label": "anonymous",
    }
    headers = {"X-Actor": "li", "X-Actor-Department": "psb"}
    assert client.get("/whoami", headers=headers).json()["label"] == "li@psb"
    steward = client.get("/whoami", headers={"X-Actor": "wu", "X-Actor-Role": "steward"}).json()
    assert (steward["steward"], steward["label"]) == (True, "wu (steward)")


def test_a_token_alone_names_the_actor_and_the_headers_are_ignored() -> None:
    token = SimpleNamespace(department="hrss", client_id="hrss-si", scopes=frozenset({"registry:write"}))
    client = TestClient(_app(token))
    assert client.get("/whoami").json()["label"] == "system:hrss-si@hrss"
    for headers in (
        {"X-Actor": "zhou"},
        {"X-Actor": "zhou", "X-Actor-Department": "psb"},
        {"X-Actor": "wu", "X-Actor-Role": "steward"},
    ):
        who = client.get("/whoami", headers=headers).json()
        assert (who["label"], who["steward"]) == ("system:hrss-si@hrss", False), headers
    steward = SimpleNamespace(
        department="sjj", client_id="sjj-steward", scopes=frozenset({"registry:steward"})
    )
    assert TestClient(_app(steward)).get("/whoami").json()["label"] == "system:sjj-steward (steward)"


def test_without_the_bare_registry_opt_in_headers_name_nobody() -> None:
    client = TestClient(_app(None, actor_headers=False))
    who = client.get("/whoami", headers={"X-Actor": "wu", "X-Actor-Role": "steward"}).json()
    assert (who["label"], who["steward"]) == ("anonymous", False)


def test_labels() -> None:
    assert Actor(name="a", department="psb", steward=True).label() == "a (steward)"

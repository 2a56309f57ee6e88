"""Who is acting: the authenticated department wins over the interim headers; anonymous has no role."""

from types import SimpleNamespace

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from registry.actors import Actor
from registry.deps import ActorDep
from web.problems import install_problem_handlers


def _app(principal: object | None) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

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


def test_a_token_fixes_the_department_and_a_contradicting_header_is_forbidden() -> None:
    client = TestClient(_app(SimpleNamespace(department="hrss", client_id="hrss-si")))
    assert client.get("/whoami").json()["label"] == "system:hrss-si@hrss"
    assert client.get("/whoami", headers={"X-Actor": "zhou"}).json()["label"] == "zhou@hrss"
    refused = client.get("/whoami", headers={"X-Actor": "zhou", "X-Actor-Department": "psb"})
    assert (refused.status_code, refused.json()["reason"]) == (403, "forbidden")


def test_labels() -> None:
    assert Actor(name="a", department="psb", steward=True).label() == "a (steward)"

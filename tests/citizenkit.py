"""The citizen page's test kit: a real server on a free port, 住建局's queries, and the sign-in flow.

The page's sign-in makes real HTTP calls (discovery, token endpoint, JWKS), so its tests run the app
under uvicorn rather than in a TestClient.
"""

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import uvicorn
from fastapi import FastAPI

from shuyuan.embedded import Embedded
from tests.authkit import now_iso, register_test_system, token_with_key

HOUSING_ITEM = "330100-GZF-001"  # 公共租赁住房申请, handled by 住建局 (zjj)


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: FastAPI, port: int) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread; its base URL while the block runs."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the server on port {port} did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


class Housing:
    """住建局's system, querying through the real API."""

    def __init__(self, base: str, embedded: Embedded) -> None:
        self.base = base
        self.client_id = f"zjj-citizen-{uuid.uuid4().hex[:6]}"
        self.key = register_test_system(embedded.state.engine, client_id=self.client_id, department="zjj")
        with httpx.Client(base_url=base) as http:
            self.token = token_with_key(http, self.key, self.client_id)

    def query(self, person: str, elements: list[str], *, case_no: str | None = None) -> tuple[str, str]:
        """One query about a person for a public-rental-housing case; (query id, case number)."""
        query_id, case_no = f"cq-{uuid.uuid4().hex}", case_no or f"ZJJ-C-{uuid.uuid4().hex[:8]}"
        body = {
            "query_id": query_id,
            "subject": {"type": "person", "id": person},
            "elements": elements,
            "purpose": {"service_item": HOUSING_ITEM, "case_no": case_no},
            "on_behalf_of": "wang.fang",
            "requested_at": now_iso(),
        }
        response = httpx.post(f"{self.base}/v1/queries", json=body, headers=self.headers())
        assert response.status_code == 200, response.text
        return query_id, case_no

    def restrict(self, query_id: str, *, seconds: float) -> None:
        """Hide one of its queries from the citizen for a few seconds (an investigation)."""
        until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + seconds)) + "Z"
        body = {"query_id": query_id, "embargo_until": until, "reason": "test investigation"}
        response = httpx.post(f"{self.base}/v1/transparency/restrictions", json=body, headers=self.headers())
        assert response.status_code == 201, response.text

    def headers(self) -> dict[str, str]:
        """The system's bearer token."""
        return {"Authorization": f"Bearer {self.token}"}


def with_param(url: str, **changes: str) -> str:
    """The URL with some query parameters replaced."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def param(url: str, name: str) -> str:
    """One query parameter of a URL."""
    return parse_qs(urlsplit(url).query)[name][0]


def sign_in(
    http: httpx.Client,
    subject_id: str,
    *,
    authorize_changes: dict[str, str] | None = None,
    callback_changes: dict[str, str] | None = None,
) -> httpx.Response:
    """Go through the page's sign-in and the development provider's form; the page's last answer.

    `authorize_changes` alter the authorization request on its way to the provider, and
    `callback_changes` the provider's redirect back: what an attacker in the middle could try.
    """
    start = http.get("/citizen/login")
    assert start.status_code == 303, start.text
    authorize = with_param(start.headers["location"], **(authorize_changes or {}))
    form = http.get(authorize)
    assert form.status_code == 200, form.text
    fields: dict[str, Any] = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    fields["typed"] = subject_id
    approved = http.post(authorize.split("?")[0], data=fields)
    assert approved.status_code == 303, approved.text
    callback = with_param(approved.headers["location"], **(callback_changes or {}))
    return http.get(callback, follow_redirects=True)


def require_consent(base: str, embedded: Embedded, element: str) -> None:
    """A steward marks an element as released only with the subject's consent (the registry API)."""
    client_id = f"steward-citizen-{uuid.uuid4().hex[:6]}"
    scopes = ["registry:read", "registry:write", "registry:steward"]
    key = register_test_system(embedded.state.engine, client_id=client_id, department="xzsp", scopes=scopes)
    with httpx.Client(base_url=base) as http:
        token = token_with_key(http, key, client_id)
        response = http.patch(
            f"/v1/elements/{element}",
            json={"consent_required": True, "reason": "个人信息保护法 第二十九条"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text

"""Attack: someone other than the subject answers a consent request (个人信息保护法 第二十九条).

Another citizen with a valid sign-in of their own, an attacker minting an ID token with the victim's
identity under a key of their own, and a department using its access token: each is refused with a
reason code, the request stays pending, nothing is released, and the refusal is audited.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from sqlalchemy import select
from sqlmodel import col

from exchange.audit.models import AuditEntry
from shuyuan.embedded import build_embedded
from tests.authkit import authorize
from tests.exchange.test_consent_api import CONSENT, actions, ask, mark_consent_required
from tests.exchange.test_transparency_api import Gateway, citizen
from tests.exchange.test_transparency_oidc import IdP


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """The embedded exchange trusting a local OpenID Connect provider; zjj's system on the client."""
    idp = IdP(tmp_path)
    for name, value in idp.env().items():
        monkeypatch.setenv(name, value)
    embedded = build_embedded(tmp_path / "exchange")
    with TestClient(embedded.app) as client:
        authorize(client)
        yield embedded, client, idp


def _pending(gateway: Gateway) -> tuple[Any, Any, Any, str, str]:
    embedded, client, idp = gateway
    mark_consent_required(client)
    victim = embedded.subjects.demo_person
    out = ask(client, victim)
    return embedded, client, idp, victim, out["results"][1]["consent_id"]


def _still_pending(client: Any, cid: str) -> None:
    seen = client.get(f"/v1/consents/{cid}").json()
    assert seen["state"] == "pending" and not seen.get("answer"), seen


def test_another_citizen_cannot_approve(gateway: Gateway) -> None:
    embedded, client, idp, victim, cid = _pending(gateway)
    other = embedded.subjects.all_persons[1]
    refused = client.post(f"{CONSENT}/{cid}", json={"decision": "approve"}, headers=citizen(idp, other))
    assert (refused.status_code, refused.json()["reason"]) == (403, "not_the_subject")
    assert victim not in refused.text
    _still_pending(client, cid)
    assert ("consent.denied", "citizen", "not_the_subject") in actions(embedded, cid)


def test_an_id_token_under_the_attackers_own_key_is_refused(gateway: Gateway) -> None:
    embedded, client, idp, victim, cid = _pending(gateway)
    own = ECKey.generate_key("P-256", parameters={"kid": idp.kid}, private=True)  # the provider's kid
    forged = idp.token(key=own, id_number=victim)
    refused = client.post(
        f"{CONSENT}/{cid}", json={"decision": "approve"}, headers={"Authorization": f"Bearer {forged}"}
    )
    assert refused.status_code == 401, refused.text
    assert refused.json()["reason"] == "unauthenticated"
    _still_pending(client, cid)
    with embedded.state.engine.connect() as conn:
        approvals = conn.execute(
            select(col(AuditEntry.action)).where(AuditEntry.action == "consent.approved")
        ).all()
    assert approvals == []


def test_a_department_token_cannot_answer_for_the_citizen(gateway: Gateway) -> None:
    _embedded, client, _idp, _victim, cid = _pending(gateway)
    # The test client carries zjj's own access token: the asking department approving its own request.
    refused = client.post(f"{CONSENT}/{cid}", json={"decision": "approve"})
    assert refused.status_code == 401, refused.text
    assert refused.json()["reason"] == "unauthenticated"
    _still_pending(client, cid)

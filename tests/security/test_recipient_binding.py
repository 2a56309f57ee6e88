"""The gateway operator cannot read answers by swapping the consumer's key (issue 9, attack 3).

The operator (who also administers the registry's database) registers a key of its own as 住建局's
newest encryption key. The gateway then names that key in its signed request, and the source, which
looks the kid up in the registry, encrypts to it. The operator opens the answers and re-encrypts them
to 住建局's real key under its real kid, so the JWE headers look right. The source's signed claims
still name the key it encrypted to (`cnf`, RFC 7800, by RFC 7638 thumbprint), and the SDK refuses
every answer not bound to its own key: the values read by the operator are at least not believed.
"""

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey

from connectors.client import ConsumerClient
from protocol.clock import utcnow
from protocol.jose import decrypt, encrypt, public_jwk, thumbprint
from registry.actors import Actor
from registry.db import unit_of_work
from registry.keys import service as keys_service
from registry.keys.models import KeyCreate
from shuyuan.app import app_state
from shuyuan.embedded import Embedded
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import fetch_token
from tests.sourcekit import serve


def test_an_answer_re_encrypted_by_the_gateway_operator_is_refused_by_the_sdk(
    client: TestClient, embedded: Embedded, tmp_path: Path
) -> None:
    zjj_keys = embedded.keys["zjj"]
    real_kid = next(reversed(zjj_keys.encryption))
    real_key = zjj_keys.encryption[real_kid]
    operator = OKPKey.generate_key("X25519")
    operator_kid = thumbprint(operator)
    state = app_state(client.app)  # type: ignore[arg-type]
    with unit_of_work(state.engine) as session:  # the DB administrator's insert, as a steward's
        keys_service.register(
            session=session,
            department="zjj",
            key_in=KeyCreate(use="enc", jwk=public_jwk(operator, kid=operator_kid)),
            actor=Actor(name="operator", department="zjj"),
        )
    state.changes.changed()
    asked = serve(embedded, "psb")  # the real psb connector, requests recorded
    token = fetch_token(client, tmp_path / "keys" / "systems" / "zjj-housing.jwk", "zjj-housing")
    zjj = ConsumerClient(client, keys=zjj_keys, auth=token)
    response = zjj.send(
        {
            "query_id": "q-rewrap-1",
            "subject": {"type": "person", "id": embedded.subjects.demo_person},
            "elements": ["person.name", "person.household_members"],
            "purpose": {"service_item": HOUSING_ITEM, "case_no": "ZJJ-REWRAP-1"},
            "on_behalf_of": "wang.fang",
            "requested_at": utcnow().isoformat(),
        }
    )
    assert response.status_code == 200
    assert [r.consumer_kid for r in asked] == [operator_kid]  # the swap worked up to the source
    out = response.json()
    for result in out["results"]:  # the operator opens each answer and re-wraps it to zjj's real key
        inner = decrypt(result["jwe"], keys={operator_kid: operator})
        result["jwe"] = encrypt(inner, recipient=real_key, kid=real_kid, cty="JWS")
    answer = zjj.open(out, subject_type="person", subject_id=embedded.subjects.demo_person)
    results: list[Any] = [(r.status, r.reason, r.value) for r in answer.results]
    assert results == [("rejected", "wrong_recipient_key", None)] * 2
    assert answer.values() == {}

"""Tampered JOSE objects (DESIGN.md §8, hostile-input suite): nothing forged is ever read as a value.

The gateway refuses answers not made for the consumer's current key and audits why; the consumer
SDK refuses tampered ciphertext, forged or foreign signatures, revoked or unknown kids and answers
replayed from another query; the connector refuses subject JWEs it cannot open.
"""

import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey

from connectors.client import ConsumerClient, GatewayError
from protocol.clock import utcnow
from protocol.envelope import ElementAnswer, SourceReply, SourceRequest
from protocol.jose import canonical, encrypt, sign, thumbprint
from registry.actors import Actor
from registry.db import unit_of_work
from registry.keys import service as keys_service
from shuyuan.app import app_state
from shuyuan.embedded import Embedded
from shuyuan.sample_catalogue import HOUSING_ITEM
from tests.authkit import fetch_token
from tests.sourcekit import as_gateway, reply_of, serve

ELEMENTS = ["person.name", "person.household_members"]  # both from psb


@pytest.fixture
def token(client: TestClient, tmp_path: Path) -> str:
    """A real access token of 住建局's system."""
    return fetch_token(client, tmp_path / "keys" / "systems" / "zjj-housing.jwk", "zjj-housing")


@pytest.fixture
def zjj(client: TestClient, embedded: Embedded, token: str) -> ConsumerClient:
    """住建局's consumer SDK."""
    return ConsumerClient(client, keys=embedded.keys["zjj"], auth=token)


def _ask(zjj: ConsumerClient, embedded: Embedded, elements: list[str] = ELEMENTS, **kw: Any) -> Any:
    return zjj.query(
        subject_type="person",
        subject_id=embedded.subjects.demo_person,
        elements=elements,
        service_item=HOUSING_ITEM,
        case_no="ZJJ-TAMPER-1",
        on_behalf_of="wang.fang",
        **kw,
    )


def _audit(tmp_path: Path, query_id: str) -> list[tuple[str, str | None, str | None]]:
    with sqlite3.connect(tmp_path / "shuyuan.db") as conn:
        rows = conn.execute(
            "SELECT action, source, reason FROM audit_entry WHERE request_id = ? ORDER BY seq", (query_id,)
        ).fetchall()
    return [tuple(r) for r in rows]


def _psb_answers(embedded: Embedded, change: Callable[[SourceRequest, ElementAnswer], ElementAnswer]) -> None:
    """Serve psb through its real connector, then change each `ok` answer on the way back (the reply
    re-signed with psb's own key: psb, or whoever holds its key, is the one tampering here)."""

    def _reply(request: SourceRequest, reply: SourceReply) -> SourceReply:
        answers = [change(request, a) if a.status == "ok" else a for a in reply.answers]
        return reply.model_copy(update={"answers": answers})

    serve(embedded, "psb", reply=_reply)


def _flip(token: str, part: int) -> str:
    parts = token.split(".")
    parts[part] = ("A" if parts[part][0] != "A" else "B") + parts[part][1:]
    return ".".join(parts)


def _zjj_enc(embedded: Embedded) -> tuple[str, Any]:
    kid = next(iter(embedded.keys["zjj"].encryption))
    return kid, embedded.keys["zjj"].encryption[kid]


def test_the_untampered_answer_is_verified(zjj: ConsumerClient, embedded: Embedded) -> None:
    answer = _ask(zjj, embedded)
    assert answer.status == "complete"
    assert all(r.kid == embedded.keys["psb"].signing_kid for r in answer.results)


@pytest.mark.parametrize("part", [2, 3, 4], ids=["iv", "ciphertext", "tag"])
def test_tampered_ciphertext_is_rejected_by_the_client(
    zjj: ConsumerClient, embedded: Embedded, part: int
) -> None:
    _psb_answers(embedded, lambda _r, a: a.model_copy(update={"jws_jwe": _flip(a.jws_jwe or "", part)}))
    answer = _ask(zjj, embedded)
    assert [(r.status, r.reason, r.value) for r in answer.results] == [
        ("rejected", "undecryptable", None)
    ] * 2
    assert answer.status == "partial" and answer.values() == {}


def test_an_answer_encrypted_to_another_department_is_refused_by_the_gateway_and_audited(
    zjj: ConsumerClient, embedded: Embedded, tmp_path: Path
) -> None:
    """A source (or anyone on the way) encrypting to a key that is not the consumer's: wrong kid."""
    hrss_kid = next(iter(embedded.keys["hrss"].encryption))
    hrss_key = embedded.keys["hrss"].encryption[hrss_kid]

    def _to_hrss(request: SourceRequest, answer: ElementAnswer) -> ElementAnswer:
        inner = sign(canonical({"v": 1}), key=embedded.keys["psb"].signing_key, kid="x")
        return answer.model_copy(
            update={"jws_jwe": encrypt(inner.encode(), recipient=hrss_key, kid=hrss_kid)}
        )

    _psb_answers(embedded, _to_hrss)
    answer = _ask(zjj, embedded, query_id="q-tamper-wrong-kid")
    assert [(r.status, r.reason) for r in answer.results] == [("unavailable", "source_unavailable")] * 2
    rejected = [row for row in _audit(tmp_path, "q-tamper-wrong-kid") if row[0] == "answer.rejected"]
    assert rejected == [("answer.rejected", "psb", "wrong_recipient_key")] * 2


def test_a_forged_kid_header_does_not_help_the_client_decrypt(
    zjj: ConsumerClient, embedded: Embedded
) -> None:
    """Encrypted to an attacker's key, labelled with the consumer's kid: passes the gateway, not the SDK."""
    kid, _ = _zjj_enc(embedded)
    attacker = OKPKey.generate_key("X25519")
    _psb_answers(
        embedded,
        lambda _r, a: a.model_copy(
            update={"jws_jwe": encrypt(b"x.y.z", recipient=attacker, kid=kid)}  # kid lies
        ),
    )
    answer = _ask(zjj, embedded)
    assert {(r.status, r.reason) for r in answer.results} == {("rejected", "undecryptable")}


def _reencrypted(
    embedded: Embedded, claims_of: Callable[[SourceRequest, str], dict[str, Any]], *, key: Any, kid: str
):  # type: ignore[no-untyped-def]
    """An answer changer that signs the given claims with `key`/`kid` and encrypts them to zjj."""
    zjj_kid, zjj_key = _zjj_enc(embedded)

    def _change(request: SourceRequest, answer: ElementAnswer) -> ElementAnswer:
        signed = sign(canonical(claims_of(request, answer.code)), key=key, kid=kid)
        return answer.model_copy(update={"jws_jwe": encrypt(signed.encode(), recipient=zjj_key, kid=zjj_kid)})

    return _change


def _honest_claims(embedded: Embedded, value: Any = "伪造") -> Callable[[SourceRequest, str], dict[str, Any]]:
    from protocol.jose import subject_binding

    def _claims(request: SourceRequest, code: str) -> dict[str, Any]:
        binding = subject_binding(
            query_id=request.query_id, subject_type="person", subject_id=embedded.subjects.demo_person
        )
        return {"v": 1, "iat": 0, "query_id": request.query_id, "element": code, "sub": binding,
                "value": value, "iss": "psb", "aud": "zjj",
                "cnf": {"jkt": thumbprint(_zjj_enc(embedded)[1])}}  # fmt: skip

    return _claims


def test_a_value_signed_by_another_departments_key_is_rejected(
    zjj: ConsumerClient, embedded: Embedded
) -> None:
    hrss = embedded.keys["hrss"]
    # hrss's real key and kid, claiming to be psb: psb's registered keys do not have that kid.
    _psb_answers(
        embedded, _reencrypted(embedded, _honest_claims(embedded), key=hrss.signing_key, kid=hrss.signing_kid)
    )
    assert {(r.status, r.reason) for r in _ask(zjj, embedded).results} == {("rejected", "unknown_key")}


@pytest.mark.parametrize(
    "claim", [{"aud": "xzsp"}, {"iss": "hrss"}], ids=["addressed_to_another_department", "another_issuer"]
)
def test_a_genuinely_signed_answer_with_another_audience_or_issuer_is_rejected(
    zjj: ConsumerClient, embedded: Embedded, claim: dict[str, str]
) -> None:
    # psb's real signing key, a correct subject binding, but the claims say the value was meant for
    # another department (or vouched for by another source): the SDK checks iss and aud itself.
    psb = embedded.keys["psb"]
    honest = _honest_claims(embedded)
    _psb_answers(
        embedded,
        _reencrypted(
            embedded, lambda r, code: honest(r, code) | claim, key=psb.signing_key, kid=psb.signing_kid
        ),
    )
    answer = _ask(zjj, embedded)
    assert {(r.status, r.reason, r.value) for r in answer.results} == {("rejected", "wrong_binding", None)}


def test_a_value_signed_with_a_forged_key_under_psbs_kid_is_rejected(
    zjj: ConsumerClient, embedded: Embedded
) -> None:
    forger = OKPKey.generate_key("Ed25519")
    psb_kid = embedded.keys["psb"].signing_kid
    _psb_answers(embedded, _reencrypted(embedded, _honest_claims(embedded), key=forger, kid=psb_kid))
    assert {(r.status, r.reason) for r in _ask(zjj, embedded).results} == {("rejected", "invalid_signature")}


def test_a_tampered_signed_payload_is_rejected(zjj: ConsumerClient, embedded: Embedded) -> None:
    """The JWS payload changed after signing (same header and signature), then re-encrypted to zjj."""
    zjj_kid, zjj_key = _zjj_enc(embedded)

    def _change(request: SourceRequest, answer: ElementAnswer) -> ElementAnswer:
        from protocol.jose import decrypt

        header, payload, signature = (
            decrypt(answer.jws_jwe or "", keys={zjj_kid: zjj_key}).decode().split(".")
        )
        forged_payload = canonical({**json.loads(_b64d(payload)), "value": "篡改"})
        forged = f"{header}.{_b64e(forged_payload)}.{signature}"
        return answer.model_copy(update={"jws_jwe": encrypt(forged.encode(), recipient=zjj_key, kid=zjj_kid)})

    _psb_answers(embedded, _change)
    assert {(r.status, r.reason) for r in _ask(zjj, embedded).results} == {("rejected", "invalid_signature")}


def test_an_answer_replayed_from_another_query_or_element_is_rejected(
    zjj: ConsumerClient, embedded: Embedded
) -> None:
    captured: list[str] = []
    _psb_answers(embedded, lambda _r, a: (captured.append(a.jws_jwe or ""), a)[1])
    assert _ask(zjj, embedded, elements=["person.name"]).status == "complete"
    # A later query gets the earlier, genuinely signed answer back (replay across queries) ...
    _psb_answers(embedded, lambda _r, a: a.model_copy(update={"jws_jwe": captured[0]}))
    answer = _ask(zjj, embedded, elements=["person.name", "person.household_members"])
    assert {(r.status, r.reason) for r in answer.results} == {("rejected", "wrong_binding")}


def test_a_revoked_signing_key_stops_acceptance_at_once(
    embedded: Embedded, client: TestClient, token: str, tmp_path: Path
) -> None:
    # key_cache_s=0: the SDK asks the registry for every answer (its default caches keys for 1 s)
    zjj = ConsumerClient(client, keys=embedded.keys["zjj"], auth=token, key_cache_s=0)
    assert _ask(zjj, embedded).status == "complete"
    _revoke(client, "psb", embedded.keys["psb"].signing_kid)
    # The gateway already refuses psb's reply, signed with the revoked key, and audits that; the
    # SDK would refuse its answers too (connectors/key_directory.py), but none reach it.
    answer = _ask(zjj, embedded, query_id="q-tamper-revoked-sig")
    assert {(r.status, r.reason, r.value) for r in answer.results} == {
        ("unavailable", "source_unavailable", None)
    }
    rejected = [row for row in _audit(tmp_path, "q-tamper-revoked-sig") if row[0] == "answer.rejected"]
    assert rejected == [("answer.rejected", "psb", "reply_unknown_key")]


def test_a_revoked_consumer_encryption_key_means_nothing_is_released(
    zjj: ConsumerClient, embedded: Embedded, client: TestClient, tmp_path: Path
) -> None:
    kid, _ = _zjj_enc(embedded)
    _revoke(client, "zjj", kid)
    with pytest.raises(GatewayError) as excinfo:
        _ask(zjj, embedded, query_id="q-tamper-no-enc-key")
    assert excinfo.value.status_code == 400 and excinfo.value.problem["reason"] == "invalid_request"
    assert "encryption key" in excinfo.value.problem["detail"]
    assert ("query.refused", None, "invalid_request") in _audit(tmp_path, "q-tamper-no-enc-key")


def test_a_revoked_source_encryption_key_means_the_source_is_not_asked(
    zjj: ConsumerClient, embedded: Embedded, client: TestClient, tmp_path: Path
) -> None:
    asked: list[SourceRequest] = []
    _psb_answers(embedded, lambda r, a: (asked.append(r), a)[1])
    _revoke(client, "psb", next(iter(embedded.keys["psb"].encryption)))
    answer = _ask(zjj, embedded, query_id="q-tamper-source-key")
    assert {(r.status, r.reason) for r in answer.results} == {("unavailable", "source_unavailable")}
    assert asked == []
    assert ("source.failed", "psb", "source_unavailable") in _audit(tmp_path, "q-tamper-source-key")


def test_the_connector_refuses_a_tampered_or_misbound_subject_jwe(
    embedded: Embedded, client: TestClient
) -> None:
    psb = embedded.connectors["psb"]
    zjj_kid, _ = _zjj_enc(embedded)
    from protocol.jose import seal_subject

    enc_kid = next(iter(embedded.keys["psb"].encryption))
    good = seal_subject(
        subject_type="person",
        subject_id=embedded.subjects.demo_person,
        query_id="q-connector-1",
        recipient=embedded.keys["psb"].encryption[enc_kid],
        kid=enc_kid,
    )
    hrss_kid = next(iter(embedded.keys["hrss"].encryption))
    to_hrss = seal_subject(
        subject_type="person",
        subject_id=embedded.subjects.demo_person,
        query_id="q-connector-1",
        recipient=embedded.keys["hrss"].encryption[hrss_kid],
        kid=hrss_kid,
    )

    def _request(subject_jwe: str, query_id: str = "q-connector-1", consumer_kid: str = zjj_kid) -> bytes:
        return as_gateway(
            embedded,
            SourceRequest(
                query_id=query_id,
                consumer="zjj",
                source="psb",
                subject_type="person",
                subject_jwe=subject_jwe,
                consumer_kid=consumer_kid,
                elements=["person.name"],
                service_item=HOUSING_ITEM,
                case_no="C-1",
                expires_at=utcnow() + timedelta(seconds=30),
            ),
        )

    assert psb.answer(_request(good)).problem is None
    for request, problem in [
        (_request(_flip(good, 3)), "undecryptable"),
        (_request(to_hrss), "unknown_key"),  # encrypted to another department
        (_request(good, query_id="q-connector-2"), "wrong_binding"),  # lifted from another query
        (_request(good, consumer_kid="an-attackers-key"), "unknown_consumer_key"),  # not zjj's key
        (_request(good, consumer_kid=hrss_kid), "unknown_consumer_key"),  # hrss's, not zjj's
        (_request("not-a-jwe"), "malformed"),
    ]:
        handled = psb.answer(request)
        assert handled.problem == problem, request
        assert handled.reply is not None  # the gateway's own request: answered, as failed
        assert [(a.status, a.reason, a.jws_jwe) for a in reply_of(handled.reply).answers] == [
            ("failed", "invalid_request", None)
        ]


def _revoke(client: TestClient, dept: str, kid: str) -> None:
    """Revoke as the registry API does: in one unit of work, then announce the change."""
    state = app_state(client.app)  # type: ignore[arg-type]
    with unit_of_work(state.engine) as session:
        keys_service.revoke(
            session=session, department=dept, kid=kid, actor=Actor(name="officer", department=dept)
        )
    state.changes.changed()


def _b64d(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64e(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

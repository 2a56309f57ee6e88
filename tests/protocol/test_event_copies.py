"""A recipient's copy of an event: signed by the publisher, encrypted to the recipient (pure)."""

from datetime import UTC, datetime

import pytest
from joserfc.jwk import Key

from protocol.crypto_profile import DEFAULT
from protocol.event_copies import EventClaims, EventSubject, open_copy, seal_copy
from protocol.jose import JoseFailure, canonical, decrypt, encrypt, sign, thumbprint

ROUTING = {"business_scope": "食品销售", "licence_type": "food_business_licence"}


def _key(use: str) -> Key:
    return DEFAULT.key_type(use).generate()  # type: ignore[arg-type]


PUBLISHER_SIG, OTHER_SIG, AMR_ENC, FSO_ENC = _key("sig"), _key("sig"), _key("enc"), _key("enc")


def claims(**overrides: object) -> EventClaims:
    """The claims xzsp signs for amr."""
    values: dict[str, object] = {
        "event_id": "evt-0000000001",
        "type": "license.issued",
        "publisher": "xzsp",
        "subject": EventSubject(type="enterprise", id="91330100MA2XXXXX0X"),
        "routing": ROUTING,
        "payload": ROUTING | {"licence_no": "JY1"},
        "recipient": "amr",
        "published_at": datetime(2026, 12, 1, tzinfo=UTC),
    }
    return EventClaims(**(values | overrides))  # type: ignore[arg-type]


def seal(c: EventClaims, *, signer: Key = PUBLISHER_SIG, to: Key = AMR_ENC, kid: str = "amr-enc") -> str:
    return seal_copy(c, signing_key=signer, signing_kid="xzsp-sig", recipient_key=to, recipient_kid=kid)


def open_as_amr(token: str, *, routing: dict = ROUTING, publisher: str = "xzsp") -> EventClaims:
    keys = {"xzsp-sig": PUBLISHER_SIG}
    opened, kid = open_copy(
        token,
        keys={"amr-enc": AMR_ENC},
        resolve=keys.get,
        recipient="amr",
        publisher=publisher,
        routing=routing,
    )
    assert kid == "xzsp-sig"
    return opened


def test_the_recipient_opens_and_verifies_its_copy() -> None:
    opened = open_as_amr(seal(claims()))
    assert opened.model_copy(update={"cnf": None}) == claims()
    assert opened.cnf == {"jkt": thumbprint(AMR_ENC)}


def test_a_copy_re_wrapped_by_whoever_swapped_the_recipients_key_is_caught() -> None:
    # The operator registered its own key as amr's, so the publisher encrypted to it; the operator read
    # the copy and re-encrypted the publisher's JWS to amr's real key. The signed `cnf` names its key.
    operator = _key("enc")
    inner = decrypt(seal(claims(), to=operator, kid="amr-enc"), keys={"amr-enc": operator})
    with pytest.raises(JoseFailure) as refused:
        open_as_amr(encrypt(inner, recipient=AMR_ENC, kid="amr-enc", cty="JWT"))
    assert refused.value.code == "wrong_recipient_key"


@pytest.mark.parametrize(
    ("token", "code", "routing", "publisher"),
    [
        (lambda: seal(claims(), to=FSO_ENC, kid="fso-enc"), "unknown_key", ROUTING, "xzsp"),  # someone else's
        (
            lambda: seal(claims(), signer=OTHER_SIG),
            "invalid_signature",
            ROUTING,
            "xzsp",
        ),  # a forged signature
        (lambda: seal(claims(recipient="fso")), "wrong_recipient", ROUTING, "xzsp"),  # re-wrapped to amr
        (lambda: seal(claims()), "routing_mismatch", {**ROUTING, "licence_type": "business_licence"}, "xzsp"),
        (lambda: seal(claims()), "wrong_publisher", ROUTING, "amr"),  # the headers name another publisher
    ],
)
def test_a_copy_that_fails_a_check_is_refused_with_its_code(
    token, code: str, routing: dict, publisher: str
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(JoseFailure) as refused:
        open_as_amr(token(), routing=routing, publisher=publisher)
    assert refused.value.code == code


def test_another_kind_of_signed_object_is_never_taken_for_a_copy() -> None:
    body = canonical(claims().model_dump(mode="json"))
    answer_like = sign(body, key=PUBLISHER_SIG, kid="xzsp-sig", typ="shuyuan-source-reply+jws")
    token = encrypt(answer_like.encode(), recipient=AMR_ENC, kid="amr-enc")
    with pytest.raises(JoseFailure) as refused:
        open_as_amr(token)
    assert refused.value.code == "wrong_type"

"""What the gateway makes of a source's reply: whether it is genuine, and the results it carries.

A reply counts only if the department the request went to signed it, for that request
(protocol/signed_messages.py). Its `ok` answers are then checked as far as the gateway can without
opening them (they are encrypted to the consumer): the profile's algorithms, the consumer's key.
"""

from joserfc.jwk import Key

from exchange.queries.models import ElementResult
from protocol.envelope import ElementAnswer, SourceReply, SourceRequest
from protocol.jose import JoseFailure, import_public, peek_header
from protocol.reasons import Reason
from protocol.signed_messages import open_reply
from registry.keys.directory import KeySnapshot


class SignedReplyCheck:
    """Accepts only the asked source's signed reply to one request; remembers why others were refused."""

    def __init__(self, request: SourceRequest, keys: KeySnapshot) -> None:
        self._request = request
        self._keys = keys
        self.refused: list[str] = []  # appended from the transport's reply thread (list.append is atomic)

    def __call__(self, data: bytes) -> SourceReply:
        """The reply, if `data` is the asked source's signed reply to the request; else JoseFailure."""
        try:
            return open_reply(
                data, request=self._request, resolve=self._source_key, profile=self._keys.profile
            )
        except JoseFailure as exc:
            self.refused.append(f"reply_{exc.code}"[:32])
            raise

    def _source_key(self, kid: str) -> Key | None:
        # Only the department the request went to: a reply signed by any other is never accepted.
        view = self._keys.find(self._request.source, "sig", kid)
        return None if view is None else import_public(view.jwk, use="sig", profile=self._keys.profile)


def element_results(
    req: SourceRequest, reply: SourceReply, keys: KeySnapshot, consumer_kid: str
) -> tuple[dict[str, ElementResult], list[tuple[str, str]]]:
    """The results of a verified reply's elements, and the `ok` answers refused with why."""
    asked = set(req.elements)
    got = {a.code: a for a in reply.answers if a.code in asked}  # never pass on what was not asked
    results = {}
    rejected: list[tuple[str, str]] = []
    for code in req.elements:
        answer = got.get(code)
        problem = answer_problem(answer, keys, consumer_kid) if answer and answer.status == "ok" else None
        if problem is not None:
            rejected.append((code, problem))
        if answer is None or answer.status == "failed" or problem is not None:
            results[code] = ElementResult(
                code=code, status="unavailable", reason=Reason.SOURCE_UNAVAILABLE.value, source=req.source
            )
        elif answer.status == "not_found":
            results[code] = ElementResult(
                code=code, status="not_found", reason=Reason.NOT_FOUND.value, source=req.source
            )
        else:
            results[code] = ElementResult(code=code, status="ok", source=req.source, jwe=answer.jws_jwe)
    return results, rejected


def answer_problem(answer: ElementAnswer, keys: KeySnapshot, consumer_kid: str) -> str | None:
    """Why an `ok` answer cannot be passed on, or None.

    The gateway cannot open the JWE (it is for the consumer), but it can refuse one that is not made
    for the consumer's current key under the profile's algorithms, and record that, before any
    consumer sees it. The consumer's SDK verifies the signature inside.
    """
    if not answer.jws_jwe:
        return "missing_jwe"
    try:
        header = peek_header(answer.jws_jwe)
    except JoseFailure as exc:
        return exc.code
    if header.get("alg") != keys.profile.jwe_alg or header.get("enc") != keys.profile.jwe_enc:
        return "wrong_algorithm"
    if header.get("kid") != consumer_kid:
        return "wrong_recipient_key"
    return None

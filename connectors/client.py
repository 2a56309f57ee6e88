"""The consumer SDK: ask the exchange for data, then decrypt and verify every answer.

The gateway returns each `ok` element as a JWE encrypted to the consumer department; inside is the
source department's JWS over {query_id, element, sub, value, iss, aud, iat}. This client decrypts with
the consumer's private keys, verifies the signature with the source's keys as registered
(`GET /v1/departments/{code}/keys`: a revoked or unknown kid is refused), checks that the claims
are bound to this query, element, subject, source and consumer and name the very key that opened
the answer (`cnf`), and validates the value against the
element's value schema when the registry has one. An answer that fails any check is `rejected`,
never returned as a value.

Authentication is the caller's: pass a bearer access token (str) or an `httpx.Auth` that adds one
(connectors/client_auth.py's TokenAuth fetches and renews tokens with the system's private key).
"""

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx

from connectors.key_directory import RegistryKeys
from connectors.keys import DepartmentKeys
from protocol import value_schema
from protocol.callbacks import CallbackPayload, verify_callback
from protocol.errors import ShuyuanError
from protocol.identifiers import InvalidSubjectId, normalise_subject_id
from protocol.jose import JoseFailure, open_answer, peek_header, subject_binding, thumbprint
from protocol.reasons import Reason

if TYPE_CHECKING:
    from connectors.prefill import PrefillAnswer

ClientStatus = Literal["ok", "denied", "not_found", "unavailable", "rejected", "pending_consent"]


class GatewayError(ShuyuanError):
    """The gateway refused the whole query; `problem` is its problem+json body.

    `status` and `reason` are the gateway's own, so an application that lets this escape answers
    as the gateway did; a reason code this SDK does not know (a newer gateway) is `invalid_request`
    here and stays as sent in `problem["reason"]`.
    """

    def __init__(self, status_code: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail")
        super().__init__(
            str(detail) if detail is not None else f"the gateway answered {status_code}",
            reason=_known_reason(problem.get("reason")),
        )
        self.args = (f"{status_code} {problem.get('reason')}: {detail}",)
        self.status = status_code
        self.status_code = status_code
        self.problem = problem


class QueryPending(ShuyuanError):
    """An accepted (202) query is still running: `fetch(query_id)` or `wait(query_id)` later."""

    status = 202

    def __init__(self, query_id: str) -> None:
        super().__init__(f"query {query_id} is still pending", reason=Reason.QUERY_IN_PROGRESS)
        self.query_id = query_id


# Reasons of a failed async run that say "try again", not "you may not" (503 on the sync route).
_UNAVAILABLE = {
    Reason.SOURCE_UNAVAILABLE.value,
    Reason.SOURCE_TIMEOUT.value,
    Reason.AUDIT_UNAVAILABLE.value,
    Reason.DATABASE_UNAVAILABLE.value,
    Reason.QUERY_INTERRUPTED.value,
}


def _with_flag(result: "ClientResult", raw: dict[str, Any]) -> "ClientResult":
    """The result with the gateway's dispute flag of its raw form (absent from older gateways)."""
    if raw.get("disputed") is not True:
        return result
    correction = raw.get("correction_id")
    return replace(result, disputed=True, correction_id=correction if isinstance(correction, str) else None)


def _known_reason(code: Any) -> Reason:
    try:
        return Reason(code)
    except ValueError:
        return Reason.INVALID_REQUEST


@dataclass(frozen=True)
class ClientResult:
    """One element as the consumer sees it after decryption and verification."""

    code: str
    status: ClientStatus
    reason: str | None
    source: str | None
    value: Any = None
    kid: str | None = None  # the source's signing key that vouched for the value
    # 异议标注: an open correction says the value may be wrong. Set by the gateway outside the source's
    # signed value (so not verified by the signature): a warning to check, never a different value.
    disputed: bool = False
    correction_id: str | None = None
    # `pending_consent`: the subject's consent request; GET /v1/consents/{id} once they answered it.
    consent_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The result as the CLI prints it (the dispute flag only when it is set)."""
        shown = {
            "code": self.code,
            "status": self.status,
            "reason": self.reason,
            "source": self.source,
            "value": self.value,
        }
        if self.disputed:
            shown |= {"disputed": True, "correction_id": self.correction_id}
        return shown


@dataclass(frozen=True)
class QueryAnswer:
    """The whole answer; `status` is `complete` only when every element is verified `ok`."""

    query_id: str
    status: Literal["complete", "partial"]
    results: list[ClientResult]

    def values(self) -> dict[str, Any]:
        """Element code -> verified value, for the `ok` elements."""
        return {r.code: r.value for r in self.results if r.status == "ok"}

    def as_dict(self) -> dict[str, Any]:
        """The answer as the CLI prints it."""
        return {
            "query_id": self.query_id,
            "status": self.status,
            "results": [r.as_dict() for r in self.results],
        }


class ConsumerClient:
    """A department system's client of the exchange (one per department and base URL)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        keys: DepartmentKeys,
        auth: str | httpx.Auth | None = None,
        key_cache_s: float = 1.0,
    ) -> None:
        self._http = http
        self._keys = keys
        self._auth = auth
        self._directory = RegistryKeys(
            lambda method, path: self._request(method, path), profile=keys.profile, cache_s=key_cache_s
        )
        self._schemas: dict[str, dict[str, Any] | None] = {}

    @property
    def department(self) -> str:
        """The consumer department this client asks as."""
        return self._keys.department

    @property
    def keys(self) -> DepartmentKeys:
        """The department's own key pairs (its private keys never leave this process)."""
        return self._keys

    @property
    def directory(self) -> RegistryKeys:
        """Other departments' public keys, from the registry."""
        return self._directory

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """An authenticated API call; its JSON body, or GatewayError on a 4xx/5xx."""
        response = self._request(method, path, **kwargs)
        _raise_for_problem(response)
        return dict(response.json())

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        auth = self._auth
        if isinstance(auth, str):
            headers["Authorization"] = f"Bearer {auth}"
            auth = None
        if auth is not None:
            kwargs["auth"] = auth
        return self._http.request(method, path, headers=headers, **kwargs)

    def post_lines(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST, authenticated, and yield each line of an NDJSON answer as it arrives; GatewayError on
        a 4xx/5xx before the first line."""
        headers: dict[str, str] = {}
        kwargs: dict[str, Any] = {}
        if isinstance(self._auth, str):
            headers["Authorization"] = f"Bearer {self._auth}"
        elif self._auth is not None:
            kwargs["auth"] = self._auth
        with self._http.stream("POST", path, json=body, headers=headers, **kwargs) as response:
            if response.status_code >= 400:
                response.read()
                try:
                    problem = response.json()
                except ValueError:
                    problem = {"detail": response.text[:200]}
                raise GatewayError(response.status_code, problem if isinstance(problem, dict) else {})
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def send(self, body: dict[str, Any]) -> httpx.Response:
        """POST a raw query body, authenticated; the response is returned as is (nothing decrypted)."""
        return self._request("POST", "/v1/queries", json=body)

    def query(
        self,
        *,
        subject_type: Literal["person", "enterprise"],
        subject_id: str,
        elements: list[str],
        service_item: str,
        case_no: str,
        on_behalf_of: str,
        query_id: str | None = None,
        extra: dict[str, Any] | None = None,
        wait_s: float = 60.0,
    ) -> QueryAnswer:
        """POST /v1/queries and return the decrypted, verified answer; GatewayError on a 4xx/5xx.

        `on_behalf_of` names the caseworker (a user id within the department) the query is made for.

        `extra` adds or overrides body fields (e.g. a fixed `requested_at` when re-sending).

        A query that asks a slow source is answered `202` (docs/api.md): it is polled for up to `wait_s`
        seconds; still pending then, QueryPending says which query_id to `fetch` later.
        """
        body = {
            "query_id": query_id or f"sdk-{uuid.uuid4().hex}",
            "subject": {"type": subject_type, "id": subject_id},
            "elements": elements,
            "purpose": {"service_item": service_item, "case_no": case_no},
            "on_behalf_of": on_behalf_of,
            "requested_at": datetime.now(UTC).isoformat(),  # the gateway's freshness window
            **(extra or {}),
        }
        response = self.send(body)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text[:200]}
            raise GatewayError(response.status_code, problem if isinstance(problem, dict) else {})
        out = response.json()
        if response.status_code == 202:
            out = self.wait(str(body["query_id"]), wait_s=wait_s)
        return self.open(out, subject_type=subject_type, subject_id=subject_id)

    def wait(self, query_id: str, *, wait_s: float = 60.0) -> dict[str, Any]:
        """Poll an accepted query until its result is there (the still encrypted body, released once).

        GatewayError when its run failed (the reason the sync route would give); QueryPending when it is
        still running after `wait_s` seconds.
        """
        deadline = time.monotonic() + wait_s
        pause = 0.05
        while True:
            out = self.fetch(query_id)
            if out.get("status") == "failed":  # as the sync route would have refused it
                reason = out.get("reason")
                status = 503 if reason in _UNAVAILABLE else 403
                raise GatewayError(status, {"reason": reason, "detail": out.get("detail")})
            if out.get("status") != "pending":
                return out
            if time.monotonic() + pause > deadline:
                raise QueryPending(query_id)
            time.sleep(pause)
            pause = min(pause * 2, 1.0)  # at most the gateway's Retry-After (1 s by default)

    def prefill(self, **kwargs: Any) -> "PrefillAnswer":
        """POST /v1/service-items/{code}/prefill, every element decrypted and verified (connectors/prefill.py:
        `service_item`, `subjects={role: (type, id)}`, `case_no`, `on_behalf_of`, optional `prefill_id`)."""
        from connectors.prefill import prefill  # prefill.py builds on this module: imported when used

        return prefill(self, **kwargs)

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body, authenticated; the JSON answer, undecrypted; GatewayError on a 4xx/5xx."""
        response = self._request("POST", path, json=body)
        _raise_for_problem(response)
        return dict(response.json())

    def query_async(self, body: dict[str, Any]) -> str:
        """POST a query body with `Prefer: respond-async`; the query_id to `fetch`; GatewayError on 4xx/5xx.

        Add `"callback_url"` (one registered for this system) or `"callback": true` to be called back.
        """
        response = self._request("POST", "/v1/queries", json=body, headers={"Prefer": "respond-async"})
        _raise_for_problem(response)
        if response.status_code != 202:
            raise GatewayError(response.status_code, {"detail": "expected 202 Accepted"})
        return str(response.json()["query_id"])

    def fetch(self, query_id: str) -> dict[str, Any]:
        """GET /v1/queries/{query_id}: `{status: "pending"}` or the (still encrypted) result, once.

        Open a result with `open(...)`; GatewayError on 4xx/5xx (`410 result_fetched`, `result_expired`).
        """
        response = self._request("GET", f"/v1/queries/{query_id}")
        _raise_for_problem(response)
        return dict(response.json())

    @staticmethod
    def verify_callback(body: bytes, gateway_jwks: dict[str, Any]) -> CallbackPayload:
        """Verify a callback body against the pinned gateway JWKS; JoseFailure if it is not the gateway's."""
        return verify_callback(body, gateway_jwks)

    def open(self, out: dict[str, Any], *, subject_type: str, subject_id: str) -> QueryAnswer:
        """Decrypt and verify a gateway response body (as returned by POST /v1/queries)."""
        query_id = str(out["query_id"])
        # The source signs the canonical identifier (e.g. an upper-case check character X); an invalid
        # one cannot have been answered, so every `ok` result would then be rejected.
        with contextlib.suppress(InvalidSubjectId):
            subject_id = normalise_subject_id(subject_type, subject_id)  # type: ignore[arg-type]
        binding = subject_binding(query_id=query_id, subject_type=subject_type, subject_id=subject_id)
        results = [
            _with_flag(self._open_result(r, query_id=query_id, binding=binding), r) for r in out["results"]
        ]
        complete = all(r.status == "ok" for r in results)
        return QueryAnswer(query_id=query_id, status="complete" if complete else "partial", results=results)

    def _open_result(self, result: dict[str, Any], *, query_id: str, binding: str) -> ClientResult:
        code, source = result["code"], result.get("source")
        if result.get("status") != "ok":
            status, reason = result.get("status", "unavailable"), result.get("reason")
            return ClientResult(code, status, reason, source, consent_id=result.get("consent_id"))
        try:
            if not isinstance(result.get("jwe"), str) or not isinstance(source, str):
                raise JoseFailure("malformed", "an ok result without a JWE or a source")
            claims, kid = open_answer(
                result["jwe"],
                keys=self._keys.encryption,
                resolve=lambda k: self._directory.valid_key(source, "sig", k),
                profile=self._keys.profile,
            )
            self._check_recipient(result["jwe"], claims)
            expected = {
                "query_id": query_id,
                "element": code,
                "sub": binding,
                "iss": source,
                "aud": self.department,
            }
            wrong = sorted(name for name, want in expected.items() if claims.get(name) != want)
            if wrong:
                raise JoseFailure("wrong_binding", f"the signed answer is for another {', '.join(wrong)}")
            self._check_schema(code, claims.get("value"))
        except JoseFailure as exc:
            return ClientResult(code, "rejected", exc.code, source)
        return ClientResult(code, "ok", None, source, claims.get("value"), kid)

    def _check_recipient(self, token: str, claims: dict[str, Any]) -> None:
        """The source must have encrypted to the key that opened the answer (`cnf`, RFC 7800).

        A gateway operator who put its own key in the registry, opened the source's answer and
        re-encrypted it to this department is caught here: the signed claims name the key the source
        used, and no one can change them without the source's signing key.
        """
        ours = self._keys.encryption.get(str(peek_header(token).get("kid")))
        cnf = claims.get("cnf")
        if ours is None or not isinstance(cnf, dict) or cnf.get("jkt") != thumbprint(ours):
            raise JoseFailure("wrong_recipient_key", "the source encrypted this answer to another key")

    def _check_schema(self, code: str, value: Any) -> None:
        if code not in self._schemas:
            response = self._request("GET", f"/v1/elements/{code}")
            try:
                body = response.json() if response.status_code == 200 else {}
            except ValueError:
                body = {}
            self._schemas[code] = body.get("value_schema") if isinstance(body, dict) else None
        schema = self._schemas[code]
        # Fetches nothing: a remote $ref is refused, never retrieved (protocol/value_schema.py).
        if schema and not value_schema.conforms(value, schema):
            raise JoseFailure("schema_violation", f"the value does not match the schema of {code}")


def _raise_for_problem(response: httpx.Response) -> None:
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"detail": response.text[:200]}
        raise GatewayError(response.status_code, problem if isinstance(problem, dict) else {})

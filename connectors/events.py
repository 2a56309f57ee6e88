"""The events SDK of a department (双告知): publish an event, open and verify a received copy.

Publishing is two calls because the gateway never sees the payload: ask who receives the event and
with which key, sign one copy per recipient with the department's signing key and encrypt it to that
recipient, send the copies; if the recipients changed meanwhile (`recipients_changed`), ask again.

A received copy is trusted only after `open`: decrypted with the department's own keys, signed by a
valid signing key of the publisher (the registry's key directory), naming this department as its
recipient, its signed routing equal to the routing it was delivered with, its type one the publisher
is the source of, and its payload valid under the type's schema (fetched from the registry).
"""

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from joserfc.jwk import Key
from pydantic import ValidationError

from connectors.client import GatewayError
from connectors.key_directory import RegistryKeys
from connectors.keys import DepartmentKeys
from protocol import value_schema
from protocol.envelope import header
from protocol.event_copies import EventClaims, EventSubject, open_copy, seal_copy
from protocol.jose import JoseFailure, import_public
from protocol.recall import PLATFORM_PUBLISHER, RECALL_TYPE, RecallPayload


@dataclass(frozen=True)
class ReceivedEvent:
    """A verified event as the application's handler gets it."""

    event_id: str
    delivery_id: str
    type: str
    publisher: str
    subject_type: str
    subject_id: str
    routing: dict[str, Any]
    payload: dict[str, Any]
    published_at: datetime
    kid: str  # the publisher's signing key that vouched for it


def _problem(response: httpx.Response) -> GatewayError:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:200]}
    return GatewayError(response.status_code, body if isinstance(body, dict) else {})


class EventClient:
    """A department system's client of the events API (publisher and recipient)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        keys: DepartmentKeys,
        auth: str | httpx.Auth | None = None,
        gateway_keys: Mapping[str, Key] | None = None,
    ) -> None:
        """`gateway_keys`: the gateway's pinned signing keys (kid -> key), which vouch for the exchange's
        own events (the correction recall); without them such an event is refused (`unknown_key`)."""
        self._http = http
        self._keys = keys
        self._auth = auth
        self._gateway_keys = dict(gateway_keys or {})
        self._directory = RegistryKeys(lambda m, p: self._request(m, p), profile=keys.profile)
        self._types: dict[str, dict[str, Any]] = {}

    @property
    def department(self) -> str:
        """The department this client acts for."""
        return self._keys.department

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        auth = self._auth
        if isinstance(auth, str):
            headers["Authorization"] = f"Bearer {auth}"
            auth = None
        if auth is not None:
            kwargs["auth"] = auth
        return self._http.request(method, path, headers=headers, **kwargs)

    def _ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _problem(response)
        return response.json()

    # --- publishing ------------------------------------------------------------------------------

    def recipients(
        self, *, type: str, subject: dict[str, str], routing: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Who receives this event now, each with the encryption key (kid, jwk) to seal its copy to."""
        body = {"type": type, "subject": subject, "routing": routing}
        return list(self._ok("POST", "/v1/events/recipients", json=body)["recipients"])

    def copies(
        self, *, event_id: str, type: str, subject: dict[str, str], routing: dict[str, Any],
        payload: dict[str, Any], recipients: list[dict[str, Any]], published_at: datetime,
    ) -> dict[str, str]:  # fmt: skip
        """One signed and encrypted copy per recipient."""
        out = {}
        for r in recipients:
            claims = EventClaims(
                event_id=event_id,
                type=type,
                publisher=self.department,
                subject=EventSubject(**subject),
                routing=routing,
                payload=payload,
                recipient=r["department"],
                published_at=published_at,
            )
            out[r["department"]] = seal_copy(
                claims,
                signing_key=self._keys.signing_key,
                signing_kid=self._keys.signing_kid,
                recipient_key=import_public(r["jwk"], use="enc", profile=self._keys.profile),
                recipient_kid=r["kid"],
                profile=self._keys.profile,
            )
        return out

    def publish(
        self, *, type: str, subject_type: str, subject_id: str, payload: dict[str, Any],
        routing: dict[str, Any] | None = None, event_id: str | None = None, attempts: int = 3,
    ) -> dict[str, Any]:  # fmt: skip
        """Publish an event to whoever subscribes to it; the gateway's EventRead (deliveries' states).

        `routing` None: the type's routing fields, taken from the payload (the registry names them).
        """
        event_id = event_id or f"evt-{uuid.uuid4().hex}"
        if routing is None:
            fields = self.event_type(type).get("routing_fields") or []
            routing = {name: payload[name] for name in fields if name in payload}
        subject = {"type": subject_type, "id": subject_id}
        published_at = datetime.now(UTC)
        for attempt in range(attempts):
            recipients = self.recipients(type=type, subject=subject, routing=routing)
            copies = self.copies(
                event_id=event_id, type=type, subject=subject, routing=routing, payload=payload,
                recipients=recipients, published_at=published_at,
            )  # fmt: skip
            body = {
                "event_id": event_id,
                "type": type,
                "subject": subject,
                "routing": routing,
                "copies": copies,
            }
            response = self._request("POST", "/v1/events", json=body)
            if response.status_code in (200, 201):
                return dict(response.json())
            error = _problem(response)
            # The subscriptions or a recipient's key changed between the two calls: ask again.
            if error.problem.get("reason") != "recipients_changed" or attempt == attempts - 1:
                raise error
        raise AssertionError("unreachable")

    # --- receiving -------------------------------------------------------------------------------

    def open(self, value: bytes, headers: list[tuple[str, bytes]] | None) -> ReceivedEvent:
        """Decrypt and verify a copy as it came off the event topic; JoseFailure says which check failed."""
        publisher, routing_text = header(headers, "sender"), header(headers, "routing")
        event_id, delivery_id, type_ = (
            header(headers, "message-id"),
            header(headers, "delivery-id"),
            header(headers, "type"),
        )
        if not (publisher and routing_text and event_id and delivery_id and type_):
            raise JoseFailure("malformed", "a copy without its event headers")
        try:
            token, routing = value.decode("ascii"), json.loads(routing_text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise JoseFailure("malformed", "the copy or its routing header is unreadable") from exc
        if publisher == PLATFORM_PUBLISHER:  # the exchange's own statement: the pinned gateway keys
            resolve: Any = self._gateway_keys.get
        else:
            resolve = lambda k: self._directory.valid_key(publisher, "sig", k)  # noqa: E731
        claims, kid = open_copy(
            token,
            keys=self._keys.encryption,
            resolve=resolve,
            recipient=self.department,
            publisher=publisher,
            routing=routing if isinstance(routing, dict) else {},
            profile=self._keys.profile,
        )
        if claims.event_id != event_id or claims.type != type_:
            raise JoseFailure("wrong_binding", "the signed copy is of another event")
        self._check_type(claims)
        return ReceivedEvent(
            event_id=claims.event_id, delivery_id=delivery_id, type=claims.type, publisher=claims.publisher,
            subject_type=claims.subject.type, subject_id=claims.subject.id, routing=claims.routing,
            payload=claims.payload, published_at=claims.published_at, kid=kid,
        )  # fmt: skip

    def event_type(self, code: str) -> dict[str, Any]:
        """The registry's event type (cached); JoseFailure if it knows none or did not answer."""
        if code not in self._types:
            response = self._request("GET", f"/v1/event-types/{code}")
            if response.status_code >= 500:
                raise JoseFailure("registry_unavailable", f"the registry answered {response.status_code}")
            if response.status_code != 200:
                raise JoseFailure("unknown_event_type", f"the registry knows no event type {code[:64]!r}")
            self._types[code] = response.json()
        return self._types[code]

    def _check_type(self, claims: EventClaims) -> None:
        """The publisher is the type's one source, and the payload matches the type's schema."""
        if claims.publisher == PLATFORM_PUBLISHER:  # the exchange publishes its recalls only
            if claims.type != RECALL_TYPE:
                raise JoseFailure("not_event_source", "the exchange publishes no such event type")
            try:
                RecallPayload.model_validate(claims.payload)
            except ValidationError as exc:
                raise JoseFailure("schema_violation", "the recall's payload is not a RecallPayload") from exc
            return
        if claims.type == RECALL_TYPE:  # reserved: a department's "recall" must never pass for the exchange's
            raise JoseFailure("not_event_source", "only the exchange publishes correction recalls")
        known = self.event_type(claims.type)
        if known.get("source") != claims.publisher:
            raise JoseFailure("not_event_source", "the publisher is not the event type's source")
        if not value_schema.conforms(claims.payload, known.get("payload_schema") or {"type": "object"}):
            raise JoseFailure("schema_violation", f"the payload does not match the schema of {claims.type}")

    def deliveries(self, *, state: str, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        """A page of the deliveries to this department in one state (newest first)."""
        params: dict[str, Any] = {"state": state, "limit": limit, "offset": offset}
        return dict(self._ok("GET", "/v1/deliveries", params=params))

    def pull_copy(self, delivery_id: str) -> tuple[bytes, list[tuple[str, bytes]]]:
        """A delivery's copy and its headers, as the Kafka subscriber would have read them."""
        body = self._ok("GET", f"/v1/deliveries/{delivery_id}/copy")
        headers = [(str(k), str(v).encode()) for k, v in dict(body["headers"]).items()]
        return str(body["copy_jwe"]).encode("ascii"), headers

    def delivered(self, delivery_id: str) -> dict[str, Any]:
        """Report the copy opened and verified; the gateway's view of the delivery (its routing too)."""
        return dict(self._ok("POST", f"/v1/deliveries/{delivery_id}/delivered"))

    def ack(self, delivery_id: str) -> dict[str, Any]:
        """Report the event handled: the gateway stops redelivering it (idempotent)."""
        return dict(self._ok("POST", f"/v1/deliveries/{delivery_id}/ack"))

    def dead_lettered(self, delivery_id: str, reason: str) -> dict[str, Any]:
        """Report a copy that could not be used and went to the dead-letter topic."""
        return dict(self._ok("POST", f"/v1/deliveries/{delivery_id}/dead_lettered", json={"reason": reason}))

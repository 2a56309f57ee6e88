"""The signed "result ready" callback of an async query: POSTed to a registered URL, retried, audited.

Only a URL registered for the calling system is ever called (exchange/queries/async_runs.py checks it
before anything runs): that registration is the SSRF defence. Redirects are never followed (a
registered host could otherwise send the gateway anywhere) and each attempt has a short timeout.
"""

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from exchange.audit.events import AuditAction, AuditRecord
from exchange.audit.publisher import AuditPublisher
from exchange.audit.writer import AuditWriter
from exchange.queries.async_models import AsyncResult, location_of
from exchange.request_signing import RequestSigner
from protocol.callbacks import CALLBACK_MEDIA_TYPE, CallbackPayload, sign_callback
from protocol.clock import utcnow

RecordOf = Callable[..., AuditRecord]


class CallbackSender:
    """Delivers callbacks with a few attempts and a doubling backoff; every attempt is audited."""

    def __init__(
        self,
        *,
        signer: RequestSigner,
        writer: AuditWriter | AuditPublisher,
        attempts: int,
        backoff_s: float,
        timeout_s: float,
    ) -> None:
        self._signer = signer
        self._writer = writer
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s

    def body(self, row: AsyncResult) -> bytes:
        """The callback body: a JWS signed with the gateway's request key (typ shuyuan-callback+jws)."""
        key, kid = self._signer.signing_key()
        payload = CallbackPayload(
            query_id=row.query_id,
            location=location_of(row.query_id),
            consumer=row.consumer,
            issued_at=utcnow(),
        )
        return sign_callback(payload, key=key, kid=kid, profile=self._signer.profile)

    async def deliver(self, row: AsyncResult, record_of: RecordOf) -> bool:
        """POST the callback until a 2xx or the attempts are spent; whether it was taken."""
        assert row.callback_url is not None, "only rows with a registered callback URL are called back"
        body = self.body(row)
        headers = {"Content-Type": CALLBACK_MEDIA_TYPE}
        async with httpx.AsyncClient(follow_redirects=False, timeout=self._timeout_s) as http:
            for attempt in range(self._attempts):
                if attempt:
                    await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
                outcome = await _post(http, row.callback_url, body, headers)
                ok = outcome == "2xx"
                action = AuditAction.CALLBACK_SENT if ok else AuditAction.CALLBACK_FAILED
                await self._writer.write([record_of(row, action, reason=None if ok else outcome)])
                if ok:
                    return True
        return False


async def _post(http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, Any]) -> str:
    """`2xx`, `http_<status>` or the transport failure's name (what the audit record says)."""
    try:
        response = await http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__[:64]
    return "2xx" if 200 <= response.status_code < 300 else f"http_{response.status_code}"

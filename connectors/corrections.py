"""Corrections (纠错) with the SDK: file one with a proposed value only the source can read, and open it
at the source (protocol/proposed_values.py); the gateway passes the JWE along and never reads it."""

from typing import Any, Literal

from connectors.client import ConsumerClient
from protocol.jose import JoseFailure
from protocol.proposed_values import open_proposed_value, seal_proposed_value


def _source_key(client: ConsumerClient, source: str) -> tuple[str, Any]:
    """The source department's newest valid encryption key (what a sender encrypts to)."""
    valid = [
        e for e in client.directory.entries(source) if e.get("use") == "enc" and e.get("status") == "valid"
    ]
    if not valid:
        raise JoseFailure("unknown_key", f"{source[:64]!r} has no valid encryption key")
    kid = str(valid[-1]["kid"])
    return kid, client.directory.valid_key(source, "enc", kid)


def file_correction(
    client: ConsumerClient,
    *,
    element: str,
    subject_type: Literal["person", "enterprise"],
    subject_id: str,
    query_id: str,
    problem: str,
    source: str,
    proposed_value: str | None = None,
    evidence_ref: str | None = None,
) -> dict[str, Any]:
    """POST /v1/corrections for a value received in `query_id` from `source`; the correction as filed.

    `problem` is read by the stewards too: say what is wrong without more personal data than needed,
    and put the right value in `proposed_value`, which is encrypted to the source.
    """
    body: dict[str, Any] = {
        "element": element,
        "subject": {"type": subject_type, "id": subject_id},
        "query_id": query_id,
        "problem": problem,
    }
    if evidence_ref is not None:
        body["evidence_ref"] = evidence_ref
    if proposed_value is not None:
        kid, key = _source_key(client, source)
        keys = client.keys
        body["proposed_value_jwe"] = seal_proposed_value(
            proposed_value,
            element=element,
            filer=keys.department,
            signing_key=keys.signing_key,
            signing_kid=keys.signing_kid,
            recipient=key,
            recipient_kid=kid,
            profile=keys.profile,
        )
    return client.call("POST", "/v1/corrections", json=body)


def proposed_value_of(client: ConsumerClient, correction: dict[str, Any]) -> str | None:
    """At the source: the filer's proposed value of a correction routed to it, verified; None if none."""
    token = correction.get("proposed_value_jwe")
    if token is None:
        return None
    filer = str(correction["filer"])
    return open_proposed_value(
        token,
        element=str(correction["element"]),
        filer=filer,
        keys=client.keys.encryption,
        resolve=lambda kid: client.directory.valid_key(filer, "sig", kid),
        profile=client.keys.profile,
    )

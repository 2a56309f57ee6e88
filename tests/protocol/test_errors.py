"""Every internal error is a ShuyuanError with a reason code and status, so one handler maps it."""

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from connectors.client import GatewayError
from connectors.client_auth import TokenError
from exchange.transport.base import SourceTimeout
from protocol.errors import ShuyuanError
from protocol.identifiers import InvalidSubjectId, normalise_subject_id
from protocol.jose import JoseFailure, peek_header
from protocol.reasons import Reason
from web.problems import PROBLEM_JSON, install_problem_handlers

ERRORS: dict[str, tuple[Callable[[], ShuyuanError], int, Reason]] = {
    "invalid subject id": (
        lambda: InvalidSubjectId("check character does not match"),
        400,
        Reason.INVALID_SUBJECT_ID,
    ),
    "jose failure": (
        lambda: JoseFailure("bad_signature", "the signature does not verify"),
        400,
        Reason.INVALID_REQUEST,
    ),
    "source timeout": (lambda: SourceTimeout("psb"), 504, Reason.SOURCE_TIMEOUT),
    "token error": (lambda: TokenError(400, {"reason": "invalid_request"}), 401, Reason.UNAUTHENTICATED),
    "gateway error": (
        lambda: GatewayError(429, {"reason": "rate_limited", "detail": "slow down", "retry_after": 3}),
        429,
        Reason.RATE_LIMITED,
    ),
}


@pytest.mark.parametrize(("make", "status", "reason"), ERRORS.values(), ids=ERRORS.keys())
def test_every_internal_error_is_a_shuyuan_error_with_its_reason_and_status(
    make: Callable[[], ShuyuanError], status: int, reason: Reason
) -> None:
    error = make()
    assert isinstance(error, ShuyuanError)
    assert (error.status, error.reason) == (status, reason)
    assert isinstance(error.detail, str) and error.detail


def test_invalid_subject_id_is_still_a_value_error_with_its_detail() -> None:
    with pytest.raises(InvalidSubjectId) as excinfo:
        normalise_subject_id("person", "110105198804190478")  # wrong check character
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.detail == str(excinfo.value) == "check character does not match"
    assert excinfo.value.reason == Reason.INVALID_SUBJECT_ID


def test_a_jose_failure_keeps_its_code_and_names_it_in_its_message() -> None:
    with pytest.raises(JoseFailure) as excinfo:
        peek_header("not a token")
    failure = excinfo.value
    assert failure.code and str(failure) == f"{failure.code}: {failure.detail}"
    assert (failure.status, failure.reason) == (400, Reason.INVALID_REQUEST)


def test_a_source_timeout_names_the_source_and_needs_none() -> None:
    assert SourceTimeout("psb").source == "psb" and "psb" in SourceTimeout("psb").detail
    assert SourceTimeout().detail and SourceTimeout().status == 504


def test_a_token_error_keeps_the_endpoint_status_and_body() -> None:
    error = TokenError(403, {"reason": "client_disabled"})
    assert error.status == 401 and error.status_code == 403
    assert error.body == {"reason": "client_disabled"}


def test_a_gateway_error_carries_the_gateway_status_and_reason() -> None:
    error = GatewayError(503, {"reason": "audit_unavailable", "detail": "the audit log is down"})
    assert (error.status, error.status_code, error.reason) == (503, 503, Reason.AUDIT_UNAVAILABLE)
    assert error.detail == "the audit log is down"
    assert str(error) == "503 audit_unavailable: the audit log is down"


def test_a_gateway_error_with_an_unknown_or_no_reason_is_invalid_request_with_its_status() -> None:
    newer = GatewayError(409, {"reason": "a_code_from_a_newer_gateway", "detail": "x"})
    assert (newer.status, newer.reason) == (409, Reason.INVALID_REQUEST)
    assert newer.problem["reason"] == "a_code_from_a_newer_gateway"
    bare = GatewayError(502, {})
    assert (bare.status, bare.reason) == (502, Reason.INVALID_REQUEST) and "502" in bare.detail


def _app(make: Callable[[], Exception]) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise make()

    return app


def test_an_invalid_subject_id_raised_in_a_route_is_problem_json_400() -> None:
    def validate() -> Exception:
        normalise_subject_id("person", "11010519880419047X")  # raises
        raise AssertionError("not reached")

    with TestClient(_app(validate)) as client:
        response = client.get("/boom")
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["reason"] == "invalid_subject_id" and body["status"] == 400
    assert "11010519880419047X" not in response.text  # the identifier is personal data: never echoed


@pytest.mark.parametrize(("make", "status", "reason"), ERRORS.values(), ids=ERRORS.keys())
def test_each_error_escaping_a_route_becomes_its_problem_json(
    make: Callable[[], ShuyuanError], status: int, reason: Reason
) -> None:
    with TestClient(_app(make)) as client:
        response = client.get("/boom")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["reason"] == reason.value


@pytest.mark.parametrize(
    "make",
    [
        lambda: OperationalError("SELECT 1", {}, Exception("connection refused")),
        lambda: InterfaceError("SELECT 1", {}, Exception("connection already closed")),
        lambda: PoolTimeout("QueuePool limit of size 10 overflow 10 reached"),
    ],
    ids=["stopped", "closed", "pool-exhausted"],
)
def test_a_database_that_does_not_answer_is_a_retryable_503_not_a_500(make: Callable[[], Exception]) -> None:
    with TestClient(_app(make), raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON and response.headers["retry-after"] == "1"
    assert response.json()["reason"] == "database_unavailable"
    assert "SELECT" not in response.text  # the statement (and its parameters) stay in the server log

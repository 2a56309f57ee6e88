"""The SDK's prefill (connectors/prefill.py) against the embedded exchange: every element decrypted and
verified against its own query and role's subject; an answer moved to another material or role is
rejected and the material no longer counts as supplied; refusals are GatewayErrors."""

import copy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from connectors.client import ConsumerClient, GatewayError
from connectors.prefill import open_prefill
from shuyuan.app import app_state
from shuyuan.embedded import Embedded
from tests.authkit import bearer, fetch_token, now_iso, register_test_system
from tests.bundlekit import BUNDLE, bundle_item


@pytest.fixture
def bundle(client: TestClient) -> str:
    """The test bundle, registered by a steward."""
    key = register_test_system(
        app_state(client.app).engine,
        client_id="steward-sdk",
        department="xzsp",
        scopes=["registry:read", "registry:write", "registry:steward"],
    )
    response = client.post(
        "/v1/service-items", json=bundle_item(), headers=bearer(client, key, "steward-sdk")
    )
    assert response.status_code == 201, response.text
    return BUNDLE


def _sdk(client: TestClient, embedded: Embedded, tmp_path: Path, client_id: str, dept: str) -> ConsumerClient:
    token = fetch_token(client, tmp_path / "keys" / "systems" / f"{client_id}.jwk", client_id)
    return ConsumerClient(client, keys=embedded.keys[dept], auth=token)


def test_prefill_opens_and_verifies_every_element(
    client: TestClient, embedded: Embedded, bundle: str, tmp_path: Path
) -> None:
    sdk = _sdk(client, embedded, tmp_path, "zjj-housing", "zjj")
    applicant, spouse = embedded.subjects.demo_person, embedded.subjects.all_persons[1]
    answer = sdk.prefill(
        service_item=bundle,
        subjects={"applicant": ("person", applicant), "spouse": ("person", spouse)},
        case_no="YJS-2026-000002",
        on_behalf_of="wang.fang",
        prefill_id="pf-sdk-000001",
    )
    assert (answer.status, answer.to_bring) == ("partial", ["结婚证原件"])
    by_name = {m.name: m for m in answer.materials}
    assert by_name["申请人身份证复印件"].status == "supplied"
    assert set(by_name["申请人身份证复印件"].values()) == {"person.name", "person.registered_address"}
    assert (
        by_name["配偶身份证复印件"].values()["person.name"]
        != by_name["申请人身份证复印件"].values()["person.name"]
    )
    assert all(r.kid for m in answer.materials for r in m.results if r.status == "ok")
    assert answer.query_ids == ["pf-sdk-000001.0.psb", "pf-sdk-000001.1.psb"]


def test_an_answer_moved_to_another_role_is_rejected(
    client: TestClient, embedded: Embedded, bundle: str, tmp_path: Path
) -> None:
    sdk = _sdk(client, embedded, tmp_path, "zjj-housing", "zjj")
    subjects = {
        "applicant": ("person", embedded.subjects.demo_person),
        "spouse": ("person", embedded.subjects.all_persons[1]),
    }
    body = {
        "prefill_id": "pf-sdk-000002",
        "case_no": "YJS-2026-000003",
        "subjects": {role: {"type": t, "id": i} for role, (t, i) in subjects.items()},
        "on_behalf_of": "wang.fang",
        "requested_at": now_iso(),
    }
    out = sdk.post_json(f"/v1/service-items/{bundle}/prefill", body)
    forged = copy.deepcopy(out)
    # A gateway that hands the spouse's signed name to the applicant: bound to another query and subject.
    forged["materials"][0]["elements"][0]["jwe"] = out["materials"][1]["elements"][0]["jwe"]
    answer = open_prefill(sdk, forged, subjects=subjects)
    first = answer.materials[0]
    assert first.results[0].status == "rejected" and first.results[0].value is None
    assert first.status == "partly" and "申请人身份证复印件" in answer.to_bring
    # An `ok` that names no query cannot be verified: rejected too.
    forged["materials"][3]["elements"][0]["query_id"] = None
    assert open_prefill(sdk, forged, subjects=subjects).materials[3].results[0].status == "rejected"


def test_refusals_are_gateway_errors(
    client: TestClient, embedded: Embedded, bundle: str, tmp_path: Path
) -> None:
    sdk = _sdk(client, embedded, tmp_path, "xzsp-approval", "xzsp")
    with pytest.raises(GatewayError) as refused:
        sdk.prefill(
            service_item=bundle,
            subjects={"applicant": ("person", embedded.subjects.demo_person)},
            case_no="YJS-2026-000004",
            on_behalf_of="li.si",
        )
    assert (refused.value.status_code, refused.value.problem["reason"]) == (403, "not_participant")

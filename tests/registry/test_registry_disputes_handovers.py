"""One source with a workflow: claims and near-duplicates open disputes; handovers move the source."""

from typing import Any

from fastapi.testclient import TestClient

from tests.registrykit import STEWARD, as_dept


def near_dup(**overrides: Any) -> dict[str, Any]:
    """hrss registering 出生日期 again under another code: a near-duplicate of psb's person.birth_date."""
    return {
        "code": "person.dob",
        "name_zh": "出生 日期",
        "name_en": "Birth date",
        "subject_type": "person",
        "source": "hrss",
    } | overrides


def source_of(api: TestClient, code: str) -> str:
    return str(api.get(f"/v1/elements/{code}").json()["source"])


def test_a_second_department_registering_the_same_code_gets_a_dispute_not_a_second_source(
    api: TestClient,
) -> None:
    body = near_dup(code="person.name", name_zh="姓名", name_en="Name")
    response = api.post("/v1/elements", json=body, headers=as_dept("hrss"))
    assert response.status_code == 202
    dispute = response.json()
    assert (
        dispute["kind"],
        dispute["element"],
        dispute["source"],
        dispute["claimant"],
        dispute["status"],
    ) == (
        "claim",
        "person.name",
        "psb",
        "hrss",
        "open",
    )
    again = api.post("/v1/elements", json=body, headers=as_dept("hrss"))
    assert again.json()["id"] == dispute["id"]  # idempotent: the same open dispute
    assert source_of(api, "person.name") == "psb"
    same_source = api.post("/v1/elements", json=body | {"source": "psb"}, headers=STEWARD)
    assert (same_source.status_code, same_source.json()["reason"]) == (409, "conflict")


def test_a_near_duplicate_opens_a_dispute_naming_the_match(api: TestClient) -> None:
    response = api.post("/v1/elements", json=near_dup(), headers=STEWARD)
    assert response.status_code == 202
    dispute = response.json()
    assert (dispute["kind"], dispute["element"]) == ("near_duplicate", "person.birth_date")
    assert dispute["score"] >= 85 and "出生日期" in dispute["matched"]
    assert api.get("/v1/elements/person.dob").status_code == 404
    assert (
        api.post("/v1/elements", json=near_dup(), headers=STEWARD).json()["id"] == dispute["id"]
    )  # the same proposal again
    other = api.post("/v1/elements", json=near_dup(code="person.dob_other"), headers=STEWARD).json()
    assert other["id"] != dispute["id"] and other["proposal"]["code"] == "person.dob_other"
    # The same names for another subject type, or by the same source, are not disputes.
    assert (
        api.post(
            "/v1/elements", json=near_dup(code="enterprise.dob", subject_type="enterprise"), headers=STEWARD
        ).status_code
        == 201
    )
    assert (
        api.post("/v1/elements", json=near_dup(code="person.dob2", source="psb"), headers=STEWARD).status_code
        == 201
    )


def test_an_alias_name_counts_for_near_duplicates(api: TestClient) -> None:
    alias = {"scope_type": "department", "scope": "zjj", "local_code": "ZJ01", "local_name": "申请人姓名"}
    assert api.post("/v1/elements/person.name/aliases", json=alias, headers=as_dept("psb")).status_code == 201
    response = api.post(
        "/v1/elements",
        json=near_dup(code="person.applicant", name_zh="申请人 姓名", name_en="Applicant"),
        headers=STEWARD,
    )
    assert (response.status_code, response.json()["element"]) == (202, "person.name")


def resolve(api: TestClient, dispute_id: int, resolution: str, headers: dict[str, str] = STEWARD) -> Any:
    return api.post(
        f"/v1/disputes/{dispute_id}/resolve", json={"resolution": resolution, "note": "裁定"}, headers=headers
    )


def test_resolutions_keep_handover_merge_distinct(api: TestClient) -> None:
    claim = api.post(
        "/v1/elements/person.gender/claims",
        json={"department": "hrss", "reason": "我们也采集性别"},
        headers=STEWARD,
    )
    assert claim.status_code == 202
    assert resolve(api, claim.json()["id"], "keep", as_dept("psb")).json()["reason"] == "forbidden"
    kept = resolve(api, claim.json()["id"], "keep")
    assert (kept.json()["status"], kept.json()["resolution"]) == ("resolved", "keep")
    assert source_of(api, "person.gender") == "psb"
    assert resolve(api, claim.json()["id"], "handover").json()["reason"] == "invalid_state"

    claim2 = api.post(
        "/v1/elements/person.ethnicity/claims", json={"department": "hrss", "reason": "划转"}, headers=STEWARD
    ).json()
    assert (
        resolve(api, claim2["id"], "merge").json()["reason"] == "invalid_request"
    )  # merge is for duplicates
    assert resolve(api, claim2["id"], "handover").status_code == 200
    assert source_of(api, "person.ethnicity") == "hrss"
    latest = api.get("/v1/elements/person.ethnicity/history").json()["items"][0]
    assert (latest["action"], latest["changes"]) == ("dispute_handover", {"source": ["psb", "hrss"]})

    merged = api.post("/v1/elements", json=near_dup(), headers=STEWARD).json()
    assert resolve(api, merged["id"], "merge").status_code == 200
    resolved = api.get(
        "/v1/aliases/resolve",
        params={"scope_type": "department", "scope": "hrss", "local_code": "person.dob"},
    )
    assert resolved.json()["code"] == "person.birth_date"

    distinct = api.post(
        "/v1/elements",
        json=near_dup(code="person.birth_date_lunar", name_en="Date of birth (lunar)"),
        headers=STEWARD,
    )
    assert distinct.status_code == 202
    assert resolve(api, distinct.json()["id"], "distinct").status_code == 200
    assert source_of(api, "person.birth_date_lunar") == "hrss"
    assert api.get("/v1/disputes", params={"status": "open"}).json()["total"] == 0


def test_a_claim_by_the_current_source_or_of_an_unknown_element_is_refused(api: TestClient) -> None:
    own = api.post(
        "/v1/elements/person.name/claims", json={"department": "psb", "reason": "x"}, headers=STEWARD
    )
    assert (own.status_code, own.json()["reason"]) == (409, "conflict")
    unknown = api.post(
        "/v1/elements/person.nothing/claims", json={"department": "hrss", "reason": "x"}, headers=STEWARD
    )
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "not_found")
    assert api.get("/v1/disputes").json()["total"] == 0


def propose(
    api: TestClient, headers: dict[str, str], element: str = "person.employer_name", to: str = "amr"
) -> Any:
    return api.post(
        "/v1/handovers", json={"element": element, "to": to, "reason": "职能划转"}, headers=headers
    )


def test_a_handover_is_proposed_by_the_source_and_accepted_by_the_receiver(api: TestClient) -> None:
    assert propose(api, as_dept("amr")).json()["reason"] == "forbidden"
    assert propose(api, as_dept("hrss"), to="hrss").status_code == 400
    proposed = propose(api, as_dept("hrss"))
    assert proposed.status_code == 201, proposed.text
    assert propose(api, STEWARD).status_code == 409  # one waiting handover per element
    handover_id = proposed.json()["id"]
    assert (
        api.post(f"/v1/handovers/{handover_id}/accept", json={}, headers=as_dept("hrss")).status_code == 403
    )
    assert source_of(api, "person.employer_name") == "hrss"
    accepted = api.post(f"/v1/handovers/{handover_id}/accept", json={"note": "同意"}, headers=as_dept("amr"))
    assert accepted.json()["status"] == "accepted"
    assert source_of(api, "person.employer_name") == "amr"
    latest = api.get("/v1/elements/person.employer_name/history").json()["items"][0]
    assert (latest["action"], latest["changes"], latest["actor"]) == (
        "handover",
        {"source": ["hrss", "amr"]},
        "clerk@amr",
    )
    again = api.post(f"/v1/handovers/{handover_id}/reject", json={}, headers=as_dept("amr"))
    assert again.json()["reason"] == "invalid_state"


def test_a_rejected_handover_leaves_the_source_and_a_stale_one_cannot_be_accepted(api: TestClient) -> None:
    first = propose(api, STEWARD).json()
    rejected = api.post(
        f"/v1/handovers/{first['id']}/reject", json={"note": "不接收"}, headers=as_dept("amr")
    )
    assert rejected.json()["status"] == "rejected"
    assert source_of(api, "person.employer_name") == "hrss"
    second = propose(api, as_dept("hrss")).json()
    # Meanwhile a dispute hands the element to zjj: the waiting handover is cancelled.
    claim = api.post(
        "/v1/elements/person.employer_name/claims", json={"department": "zjj", "reason": "x"}, headers=STEWARD
    ).json()
    assert resolve(api, claim["id"], "handover").status_code == 200
    assert api.get(f"/v1/handovers/{second['id']}").json()["status"] == "cancelled"
    late = api.post(f"/v1/handovers/{second['id']}/accept", json={}, headers=as_dept("amr"))
    assert late.json()["reason"] == "invalid_state"
    assert source_of(api, "person.employer_name") == "zjj"
    listed = api.get("/v1/handovers", params={"element": "person.employer_name"}).json()
    assert [h["status"] for h in listed["items"]] == ["cancelled", "rejected"]


def test_an_alias_points_to_one_element_only(api: TestClient) -> None:
    alias = {"scope_type": "department", "scope": "zjj", "local_code": "XM", "local_name": "姓名"}
    created = api.post("/v1/elements/person.name/aliases", json=alias, headers=STEWARD)
    assert created.status_code == 201
    clash = api.post(
        "/v1/elements/person.gender/aliases", json=alias | {"local_name": "性别"}, headers=STEWARD
    )
    assert (clash.status_code, clash.json()["reason"]) == (409, "conflict")
    other_scope = api.post(
        "/v1/elements/person.gender/aliases", json=alias | {"scope": "amr"}, headers=STEWARD
    )
    assert other_scope.status_code == 201
    assert api.post("/v1/elements/person.name/aliases", json=alias | {"local_code": "Y"}).status_code == 403
    params = {"scope_type": "department", "scope": "zjj", "local_code": "XM"}
    assert api.get("/v1/aliases/resolve", params=params).json()["code"] == "person.name"
    missing = api.get("/v1/aliases/resolve", params=params | {"local_code": "NOPE"})
    assert (missing.status_code, missing.json()["reason"]) == (404, "not_found")
    assert api.delete(f"/v1/aliases/{created.json()['id']}", headers=as_dept("psb")).status_code == 204
    assert api.get("/v1/aliases/resolve", params=params).status_code == 404
    assert [h["action"] for h in api.get("/v1/elements/person.name/history").json()["items"][:2]] == [
        "alias_removed",
        "alias_added",
    ]

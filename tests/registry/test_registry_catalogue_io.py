"""Bulk import and export (JSON and CSV): all-or-nothing with a row-by-row error report."""

import csv
import io
import json
from typing import Any

from fastapi.testclient import TestClient

from shuyuan.sample_catalogue import ELEMENTS, SERVICE_ITEMS
from tests.registrykit import STEWARD


def new_element(code: str, **overrides: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name_zh": "驾驶证号",
        "name_en": "Driving licence number",
        "subject_type": "person",
        "source": "zjj",
        "status": "recorded",
        "aliases": [
            {"scope_type": "region", "scope": "330100", "local_code": "JSZ01", "local_name": "驾驶证编号"}
        ],
    } | overrides


def post_json(api: TestClient, doc: Any, headers: dict[str, str] = STEWARD) -> Any:
    return api.post(
        "/v1/catalogue/import", content=json.dumps(doc, ensure_ascii=False).encode(), headers=headers
    )


def test_json_export_imports_back_unchanged(api: TestClient) -> None:
    exported = api.get("/v1/catalogue/export").json()
    assert len(exported["elements"]) == len(ELEMENTS) and len(exported["service_items"]) == len(SERVICE_ITEMS)
    report = post_json(api, exported)
    assert report.status_code == 200, report.text
    assert report.json() == {
        "elements_created": 0,
        "elements_updated": 0,
        "aliases_added": 0,
        "items_created": 0,
        "items_replaced": len(SERVICE_ITEMS),
    }
    assert api.get("/v1/elements/person.name").json()["version"] == 1


def test_json_import_creates_updates_and_maps_aliases(api: TestClient) -> None:
    doc = {
        "elements": [
            new_element("person.driving_licence"),
            {**api.get("/v1/catalogue/export").json()["elements"][0], "definition": "企业住所（导入）"},
        ],
        "service_items": [
            {
                "code": "TEST-IMP-1",
                "name": "导入事项",
                "handling_department": "zjj",
                "materials": [{"name": "驾驶证", "elements": ["person.driving_licence"]}],
            }
        ],
    }
    report = post_json(api, doc).json()
    assert (
        report["elements_created"],
        report["elements_updated"],
        report["aliases_added"],
        report["items_created"],
    ) == (
        1,
        1,
        1,
        1,
    )
    params = {"scope_type": "region", "scope": "330100", "local_code": "JSZ01"}
    assert api.get("/v1/aliases/resolve", params=params).json()["code"] == "person.driving_licence"
    assert api.get("/v1/elements/enterprise.address").json()["definition"] == "企业住所（导入）"
    assert api.get("/v1/service-items/TEST-IMP-1").json()["materials"][0]["elements"] == [
        "person.driving_licence"
    ]


def test_a_bad_row_refuses_the_whole_import_with_a_row_report(api: TestClient) -> None:
    doc = {
        "elements": [
            new_element("person.driving_licence"),
            new_element("person.bad_subject", subject_type="robot", aliases=[]),
            new_element("person.no_source", source="nowhere", aliases=[]),
            new_element(
                "person.name", source="hrss", aliases=[]
            ),  # another source: a handover, not an import
            new_element("person.dup_alias", aliases=new_element("x.y")["aliases"]),  # JSZ01 is row 1's
        ],
        "service_items": [
            {
                "code": "TEST-IMP-2",
                "name": "x",
                "handling_department": "zjj",
                "materials": [{"name": "m", "elements": ["person.nope"]}],
            }
        ],
    }
    response = post_json(api, doc)
    assert response.status_code == 422
    problem = response.json()
    assert problem["reason"] == "import_failed"
    where = [(e["file"], e["row"]) for e in problem["errors"]]
    assert where == [("elements", 2), ("elements", 3), ("elements", 4), ("elements", 5), ("service_items", 1)]
    assert problem["errors"][0]["field"] == "subject_type"
    assert "handover" in problem["errors"][2]["message"]
    # Nothing of the valid row 1 was kept.
    assert api.get("/v1/elements/person.driving_licence").status_code == 404
    assert api.get("/v1/aliases", params={"scope": "330100"}).json()["total"] == 0
    assert api.get("/v1/service-items/TEST-IMP-2").status_code == 404


def test_only_a_steward_imports_and_garbage_is_a_clear_error(api: TestClient) -> None:
    assert post_json(api, {"elements": []}, headers={}).json()["reason"] == "forbidden"
    garbage = api.post("/v1/catalogue/import", content=b"{not json", headers=STEWARD)
    assert (garbage.status_code, garbage.json()["errors"][0]["message"][:8]) == (422, "not JSON")
    wrong = post_json(api, {"elements": [], "extra": 1})
    assert wrong.json()["reason"] == "import_failed"


def test_csv_export_round_trips_and_a_bad_csv_row_is_reported_by_line(api: TestClient) -> None:
    elements_csv = api.get("/v1/catalogue/export/elements.csv").text
    items_csv = api.get("/v1/catalogue/export/service-items.csv", params={"bom": True}).text
    assert items_csv.startswith("\ufeffitem_code,")
    unchanged = api.post("/v1/catalogue/import/elements.csv", content=elements_csv.encode(), headers=STEWARD)
    assert unchanged.json()["elements_updated"] == 0, unchanged.text
    again = api.post("/v1/catalogue/import/service-items.csv", content=items_csv.encode(), headers=STEWARD)
    assert again.json()["items_replaced"] == len(SERVICE_ITEMS)

    rows = list(csv.DictReader(io.StringIO(elements_csv)))
    added = rows[0] | {
        "code": "person.driving_licence",
        "name_zh": "驾驶证号",
        "name_en": "Driving licence",
        "subject_type": "person",
        "source": "zjj",
        "status": "recorded",
        "aliases": "region:330100:JSZ01:驾驶证编号",
    }
    broken = rows[0] | {
        "code": "person.broken",
        "name_zh": "破损",
        "name_en": "Broken",
        "subject_type": "person",
        "source": "zjj",
        "status": "recorded",
        "aliases": "only-two:parts",
    }
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows([added, broken])
    refused = api.post("/v1/catalogue/import/elements.csv", content=out.getvalue().encode(), headers=STEWARD)
    assert refused.status_code == 422
    assert [(e["file"], e["row"], e["field"]) for e in refused.json()["errors"]] == [
        ("elements.csv", 3, "aliases")
    ]
    assert api.get("/v1/elements/person.driving_licence").status_code == 404
    missing_columns = api.post(
        "/v1/catalogue/import/elements.csv", content=b"code,name_zh\n", headers=STEWARD
    )
    assert missing_columns.json()["errors"][0]["message"] == "missing columns"
    assert api.get("/v1/catalogue/export/other.csv").status_code == 404


def test_an_elements_csv_written_before_grade_basis_still_imports_and_keeps_the_reasons(
    api: TestClient,
) -> None:
    exported = list(csv.DictReader(io.StringIO(api.get("/v1/catalogue/export/elements.csv").text)))
    assert exported[0]["grade_basis"]  # every sample element's grade has its recorded reason
    [row] = [r for r in exported if r["code"] == "person.name"]
    old_columns = [c for c in row if c != "grade_basis"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=old_columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerow(row | {"definition": "户籍登记的姓名"})
    report = api.post("/v1/catalogue/import/elements.csv", content=out.getvalue().encode(), headers=STEWARD)
    assert (report.status_code, report.json()["elements_updated"]) == (200, 1), report.text
    element = api.get("/v1/elements/person.name").json()
    assert (element["definition"], element["grade_basis"]) == ("户籍登记的姓名", row["grade_basis"])

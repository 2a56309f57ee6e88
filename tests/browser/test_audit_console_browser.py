"""A security officer in the console, in a real browser: search the audit log, open a record's proof,
download a bundle — which the CLI then verifies offline — and have a tampered copy rejected."""

import json
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from typer.testing import CliRunner

from exchange.audit import keys
from exchange.audit.cli import audit_app
from tests.authkit import now_iso, register_test_system, token_with_key

pytestmark = pytest.mark.browser

OFFICER = ("officer", "officer-demo-2026")


def _queries(console_server) -> str:  # type: ignore[no-untyped-def]
    """Two queries of 住建局 through the API; returns the case number they carry."""
    embedded = console_server.embedded
    base = console_server.url.removesuffix("/console")
    client_id = f"zjj-audit-{uuid.uuid4().hex[:6]}"
    key = register_test_system(embedded.state.engine, client_id=client_id, department="zjj")
    case_no = f"ZJJ-AUDIT-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=base) as http:
        token = token_with_key(http, key, client_id)
        for elements in (["person.name"], ["person.name", "person.si_contribution_base"]):
            body = {
                "query_id": f"aq-{uuid.uuid4().hex}",
                "subject": {"type": "person", "id": embedded.subjects.demo_person},
                "elements": elements,
                "purpose": {"service_item": "330100-GZF-001", "case_no": case_no},
                "on_behalf_of": "wang.fang",
                "requested_at": now_iso(),
            }
            response = http.post("/v1/queries", json=body, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
    # Seal now rather than wait for the checkpoint interval: exports hold only signed records.
    embedded.state.audit_writer.checkpoint_now()  # type: ignore[union-attr]
    return case_no


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/audit")
    page.fill("#username", OFFICER[0])
    page.fill("#password", OFFICER[1])
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_have_text("审计日志")


def test_officer_searches_proves_exports_and_verifies(
    console_server, page: Page, shoot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    case_no = _queries(console_server)
    base = console_server.url
    _sign_in(page, base)
    page.fill("input[name=subject_id]", console_server.embedded.subjects.demo_person)
    page.select_option("select[name=subject_type]", "person")
    page.fill("input[name=department]", "zjj")
    page.click("#audit-filter button[type=submit]")
    rows = page.locator("#audit-table tbody tr")
    expect(rows.filter(has_text=case_no).first).to_be_visible()
    # The identifier is used for the blind index only: it is neither shown nor kept in the URL's results.
    assert console_server.embedded.subjects.demo_person not in page.locator("#audit-table").inner_text()
    shoot(page, "audit-search")

    rows.filter(has_text=case_no).first.locator("a").click()
    expect(page.locator("#proof-verdict")).to_have_text("证明有效：该记录在签名的默克尔根之内。")
    shoot(page, "audit-record")

    page.go_back()
    with page.expect_download() as download:
        page.click("#download-bundle")
    bundle = tmp_path / "officer.zip"
    download.value.save_as(bundle)
    # The officer pins the gateway's audit key, received out of band, never the bundle's.
    audit_key = console_server.embedded.state.settings.audit.signing_pair().public
    pem = tmp_path / "audit.pub.pem"
    pem.write_text(keys.public_pem(audit_key))
    result = CliRunner().invoke(audit_app, ["verify", str(bundle), "--audit-key", str(pem)])
    assert result.exit_code == 0 and "OK" in result.output, result.output
    with zipfile.ZipFile(bundle) as z:
        records = [json.loads(line) for line in z.read("records.jsonl").decode().splitlines()]
    assert any(r["case_no"] == case_no for r in records)

    page.click("#verify-link")
    expect(page.locator("#trusted-key")).to_contain_text(keys.fingerprint(audit_key))
    page.set_input_files("#verify-form input[type=file]", str(bundle))
    page.click("#verify-form button[type=submit]")
    expect(page.locator("#verify-result")).to_contain_text("验证通过")
    shoot(page, "audit-verify-ok")

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(bundle) as zin, zipfile.ZipFile(tampered, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "records.jsonl":
                data = data.replace(case_no.encode(), b"ZJJ-FORGED-0", 1)
            zout.writestr(item.filename, data)
    page.set_input_files("#verify-form input[type=file]", str(tampered))
    page.click("#verify-form button[type=submit]")
    expect(page.locator("#verify-result")).to_contain_text("验证失败")
    expect(page.locator("#verify-result")).to_contain_text("首个损坏的记录")
    shoot(page, "audit-verify-broken")

    # A time filter from the browser (no offset: read as China Standard Time) narrows the search.
    page.goto(f"{base}/audit")
    page.fill("input[name=time_from]", "2099-01-01T00:00")
    page.click("#audit-filter button[type=submit]")
    expect(page.locator("main")).to_contain_text("没有匹配的记录")

    # The download itself is on the record, under the officer's name.
    page.goto(f"{base}/audit")
    expect(page.locator("#audit-table")).to_contain_text("audit.exported")
    expect(page.locator("#audit-table")).to_contain_text("console:officer")


def test_a_steward_may_not_open_the_audit_log(console_server, page: Page) -> None:  # type: ignore[no-untyped-def]
    base = console_server.url
    page.goto(f"{base}/audit")
    page.fill("#username", "steward")
    page.fill("#password", "steward-demo-2026")
    page.click("button[type=submit].primary")
    response = page.request.get(f"{base}/audit")
    assert response.status == 403
    response = page.request.get(f"{base}/audit/bundle")
    assert response.status == 403

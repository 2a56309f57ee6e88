"""A steward's registry workflows in a real browser, and every console page at 1366x768 without scrolling.

Aliases, a service item with its materials, a system's status and keys, catalogue export and import
(preview, then confirm), a restriction approved by the security officer. Screenshots go to tests/artifacts/.
"""

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from exchange.transparency import service as transparency
from protocol.clock import utcnow
from tests.browser.test_audit_console_browser import _queries as audited_queries

pytestmark = pytest.mark.browser

STEWARD = ("steward", "steward-demo-2026")
OFFICER = ("officer", "officer-demo-2026")
# Pages reached from no sidebar link, checked besides every page the sidebar links to.
DETAIL_PAGES = (
    "/elements/person.name",
    "/elements/person.name/edit",
    "/elements/new",
    "/departments/zjj",
    "/systems/zjj-housing",
    "/service-items/new",
    "/restrictions?status=all",
)


def _sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_have_text("工作台")


def test_steward_keeps_aliases_items_systems_and_the_catalogue(  # type: ignore[no-untyped-def]
    console_server, page: Page, shoot, tmp_path: Path
) -> None:
    base = console_server.url
    _sign_in(page, base, *STEWARD)

    local = f"B{uuid.uuid4().hex[:6]}"
    page.goto(f"{base}/aliases")
    page.fill("#f-element", "person.name")
    page.fill("#f-scope", "psb")
    page.fill("#f-local_code", local)
    page.fill("#f-local_name", "姓名（公安）")
    page.click("#alias-form button[type=submit]")
    expect(page.locator("#alias-table")).to_contain_text(local)
    # The same code again, for another element: refused next to the field, with its reason code.
    page.fill("#f-element", "person.gender")
    page.fill("#f-scope", "psb")
    page.fill("#f-local_code", local)
    page.fill("#f-local_name", "重复")
    page.click("#alias-form button[type=submit]")
    expect(page.locator("#e-local_code")).to_contain_text("conflict")
    shoot(page, "30-aliases")
    page.goto(f"{base}/aliases")
    page.locator("#alias-table tr", has_text=local).locator("button").click()
    expect(page.locator("#alias-table")).not_to_contain_text(local)

    code = f"item-{uuid.uuid4().hex[:6]}"
    page.goto(f"{base}/service-items")
    page.click("#new-item")
    page.fill("#f-code", code)
    page.fill("#f-name", "浏览器测试事项")
    page.select_option("#f-handling_department", "zjj")
    page.fill("#f-materials", "身份证明: person.name\n婚姻证明:")
    page.click("#item-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("浏览器测试事项")
    page.click("#edit-item")
    page.fill("#f-materials", "身份证明: person.name, person.gender")
    page.click("#item-form button[type=submit]")
    expect(page.locator("table.data")).to_contain_text("person.gender")
    shoot(page, "31-service-item-edited")

    page.goto(f"{base}/departments/psb")
    page.click("a[href$='/systems/psb-hukou']")
    expect(page.locator("#system-status")).to_have_text("启用")
    page.click("#system-status-form button")
    expect(page.locator("#system-status")).not_to_have_text("启用")
    page.click("#system-status-form button")
    expect(page.locator("#system-status")).to_have_text("启用")
    page.locator("#key-table button").first.click()
    expect(page.locator("#key-table")).to_contain_text("已吊销")
    shoot(page, "32-system-keys")

    page.goto(f"{base}/catalogue")
    with page.expect_download() as download:
        page.click("#export-json")
    exported = tmp_path / "catalogue.json"
    download.value.save_as(exported)
    assert any(e["code"] == "person.name" for e in json.loads(exported.read_text("utf-8"))["elements"])
    page.set_input_files("#f-file", str(exported))
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-preview")).to_be_visible()
    shoot(page, "33-import-preview")
    page.click("#import-confirm button[type=submit]")
    expect(page.locator("#import-done")).to_be_visible()


def test_officer_approves_a_restriction_awaiting_review(console_server, page: Page, shoot) -> None:  # type: ignore[no-untyped-def]
    query_id = f"q-{uuid.uuid4().hex[:12]}"
    transparency.add_restriction(
        engine=console_server.embedded.state.engine,
        department="zjj",
        created_by="zjj-housing",
        query_id=query_id,
        embargo_until=utcnow() + timedelta(days=90),
        reason="案件调查中",
        now=utcnow(),
    )
    base = console_server.url
    _sign_in(page, base, *OFFICER)
    page.goto(f"{base}/restrictions")
    row = page.locator("#restriction-table tr", has_text=query_id)
    expect(row).to_contain_text("待审核")
    shoot(page, "34-restrictions")
    row.locator("button").click()
    expect(page.locator("#restriction-table")).not_to_contain_text(query_id)


def _overflowing(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"))


@pytest.mark.parametrize("who", [STEWARD, OFFICER], ids=["steward", "officer"])
def test_every_console_page_fits_1366x768(console_server, browser: Browser, who: tuple[str, str]) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        base = console_server.url
        _sign_in(page, base, *who)
        links = page.eval_on_selector_all(".sidebar nav a", "links => links.map(a => a.getAttribute('href'))")
        root = base.removesuffix("/console")
        paths = [root + link for link in links] + [base + p for p in DETAIL_PAGES]
        if who == OFFICER:
            # Real queries give the audit table long rows (ids, actors, elements): it must still fit.
            audited_queries(console_server)
            paths += [f"{base}/audit?department=zjj", f"{base}/audit/records/1", f"{base}/audit/verify"]
        assert len(paths) > len(DETAIL_PAGES) + 5, "the sidebar lists the console's pages"
        for lang in ("zh", "en"):
            if lang == "en":
                page.click(".lang-switch button[value=en]")
            for url in paths:
                response = page.goto(url)
                assert response is not None and response.status in (200, 403), url
                assert _overflowing(page) <= 0, f"{url} ({lang}) scrolls sideways at 1366x768"
    finally:
        context.close()

"""A data steward's day in the console, in a real browser (Debian's Chromium, headless).

Sign in, register an element, watch a second department's near-duplicate turn into a dispute and
settle it, approve an agreement request, and see the dashboard numbers follow. Every page visited is
written as a screenshot to tests/artifacts/.
"""

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from protocol.clock import utcnow
from registry.actors import Actor
from registry.agreements import service as agreements
from registry.agreements.models import AgreementCreate
from registry.db import unit_of_work

pytestmark = pytest.mark.browser

STEWARD = ("steward", "steward-demo-2026")


def _stat(page: Page, name: str) -> int:
    return int(page.locator(f'[data-stat="{name}"] .value').inner_text())


def _sign_in(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login?next=/console/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_have_text("工作台")


def _request_agreement(console_server) -> int:  # type: ignore[no-untyped-def]
    """A consumer department's request, as its system would file it through the API."""
    now = utcnow()
    request_in = AgreementCreate(
        consumer="xzsp",
        element="person.si_contribution_base",
        service_item="330100-GZF-001",
        legal_basis="《社会保险法》第八十一条；公共租赁住房管理办法",
        valid_from=now,
        valid_until=now + timedelta(days=365),
    )
    with unit_of_work(console_server.embedded.state.engine) as session:
        actor = Actor(name="xzsp-approval-portal", department="xzsp")
        return agreements.request(session=session, agreement_in=request_in, actor=actor).id  # type: ignore[return-value]


def test_steward_registers_settles_a_dispute_and_approves(console_server, page: Page, shoot) -> None:  # type: ignore[no-untyped-def]
    base = console_server.url
    page.goto(f"{base}/login")
    shoot(page, "01-login")
    _sign_in(page, base, *STEWARD)
    before = {name: _stat(page, name) for name in ("elements", "disputes", "pending")}
    shoot(page, "02-dashboard")

    # Live search (htmx) in Chinese finds the element and its English name.
    page.click("nav >> text=数据元")
    page.fill("input[type=search]", "户籍")
    expect(page.locator("#elements-table tbody tr")).to_have_count(1)
    expect(page.locator("#elements-table")).to_contain_text("person.registered_address")
    shoot(page, "03-elements-search")

    # Register: a bad code is explained next to its field, then the element is registered.
    page.click("text=登记数据元")
    page.fill("#f-code", "Military Service")
    page.fill("#f-name_zh", "兵役状况")
    page.fill("#f-name_en", "Military service status")
    page.select_option("#f-source", "psb")
    page.select_option("#f-subject_type", "person")
    page.click("button[type=submit].primary")
    expect(page.locator("#e-code")).to_have_text("格式不正确。")
    shoot(page, "04-element-form-errors")
    page.fill("#f-code", "person.military_service")
    page.fill("#f-reason", "兵役登记信息共享")
    page.click("button[type=submit].primary")
    expect(page.locator(".flash-ok")).to_contain_text("已登记数据元 person.military_service")
    expect(page.locator("#element-source")).to_have_text("公安局")
    shoot(page, "05-element-detail")

    # 人社局 registers the same datum under its own name: a dispute, not a second source.
    page.goto(f"{base}/elements/new")
    page.fill("#f-code", "person.service_state")
    page.fill("#f-name_zh", "兵役状况")
    page.fill("#f-name_en", "Military service")
    page.select_option("#f-source", "hrss")
    page.select_option("#f-subject_type", "person")
    page.click("button[type=submit].primary")
    expect(page.locator(".flash-info")).to_contain_text("已转为争议")
    expect(page.locator("#dispute-status")).to_contain_text("待处理")
    shoot(page, "06-dispute")
    page.goto(f"{base}/")
    assert _stat(page, "disputes") == before["disputes"] + 1
    assert _stat(page, "elements") == before["elements"] + 1

    # Settle it: 人社局's name becomes its local alias of the one element.
    page.goto(f"{base}/disputes")
    shoot(page, "07-disputes")
    page.locator("#disputes-table tbody tr").filter(has_text="person.military_service").get_by_role(
        "link"
    ).last.click()
    page.click("button[type=submit].primary")  # no outcome chosen
    expect(page.locator(".error")).to_have_text("请从列表中选择。")
    page.check("input[name=resolution][value=merge]")
    page.fill("#f-note", "同一数据元，人社局使用本地编码")
    page.click("button[type=submit].primary")
    expect(page.locator("#dispute-status")).to_contain_text("合并为别名")
    page.goto(f"{base}/elements/person.military_service")
    expect(page.locator("#element-source")).to_have_text("公安局")
    expect(page.locator("body")).to_contain_text("person.service_state")
    shoot(page, "08-element-with-alias")
    page.goto(f"{base}/elements?q=marriage_state")
    expect(page.locator("#elements-table tbody tr")).to_have_count(1)

    # An agreement request from 行政审批局 waits in the queue; a rejection needs a reason; approve it.
    agreement_id = _request_agreement(console_server)
    page.goto(f"{base}/")
    assert _stat(page, "pending") == before["pending"] + 1
    assert _stat(page, "disputes") == before["disputes"]
    page.click("nav >> text=共享协议")
    row = page.locator(f'tr[data-agreement="{agreement_id}"]')
    expect(row).to_contain_text("待审批")
    shoot(page, "09-agreements-queue")
    row.get_by_role("link", name="审批").click()
    page.click("button.danger")
    expect(page.locator("#e-reject")).to_have_text("驳回必须说明理由。")
    shoot(page, "10-agreement-detail")
    page.fill("#approve-reason", "符合公租房审核需要")
    page.click("button.ok")
    expect(page.locator(".flash-ok")).to_contain_text(f"协议 #{agreement_id} 已批准")
    page.goto(f"{base}/")
    assert _stat(page, "pending") == before["pending"]
    shoot(page, "11-dashboard-after")


def test_pages_in_both_languages_and_retirement_needs_confirmation(console_server, page: Page, shoot) -> None:  # type: ignore[no-untyped-def]
    base = console_server.url
    _sign_in(page, base, *STEWARD)
    for path, name, heading in [
        ("/departments", "12-departments", "部门与系统"),
        ("/departments/hrss", "13-department", "人力资源和社会保障局"),
        ("/service-items", "14-service-items", "服务事项与覆盖率"),
        ("/service-items/330100-GZF-001", "15-service-item", "公共租赁住房"),
    ]:
        page.goto(f"{base}{path}")
        expect(page.locator("h1")).to_contain_text(heading)
        shoot(page, name)

    # Retiring shows what depends on the element and refuses to go on without confirmation.
    page.goto(f"{base}/elements/person.household_members")
    page.click("text=退役 / 替代…")
    expect(page.locator("#impact")).to_contain_text("330100-GZF-001")
    page.fill("#f-reason", "测试")
    page.click("button.danger")
    expect(page.locator("#e-confirmed")).to_have_text("请先确认影响清单。")
    shoot(page, "16-retire-impact")
    expect(page.locator("#impact")).to_be_visible()

    # A source handover: proposed on the element, accepted for the receiving department, recorded.
    page.goto(f"{base}/elements/person.ethnicity")
    page.click("text=提议移交数源")
    page.select_option("#h-to", "hrss")
    page.fill("#h-reason", "机构职能调整")
    page.click("details button[type=submit]")
    expect(page.locator(".flash-ok")).to_contain_text("已提议将 person.ethnicity 移交给 hrss")
    page.goto(f"{base}/disputes")
    row = page.locator("#handovers-table tbody tr").filter(has_text="person.ethnicity")
    expect(row).to_contain_text("人力资源和社会保障局")
    shoot(page, "17-handovers")
    row.get_by_role("button", name="接收").click()
    expect(page.locator(".flash-ok")).to_contain_text("已接收")
    page.goto(f"{base}/elements/person.ethnicity")
    expect(page.locator("#element-source")).to_have_text("人力资源和社会保障局")
    expect(page.locator("#history")).to_contain_text("数源移交")

    # English is one click away and stays for the session.
    page.click("button[name=lang][value=en]")
    expect(page.locator("#history")).to_contain_text("Source handed over")
    page.goto(f"{base}/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator(".sidebar nav")).to_contain_text("Sharing agreements")
    shoot(page, "18-dashboard-en")
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Data stewards' console")
    page.goto(f"{base}/agreements")
    expect(page).to_have_url(f"{base}/login?next=/console/agreements")


def test_officer_sees_accounts_and_a_viewer_cannot_edit(console_server, page: Page, shoot) -> None:  # type: ignore[no-untyped-def]
    base = console_server.url
    _sign_in(page, base, "officer", "officer-demo-2026")
    page.click("nav >> text=账号与登录")
    expect(page.locator("#accounts-table")).to_contain_text("steward")
    shoot(page, "19-accounts")
    page.goto(f"{base}/elements/person.name")
    expect(page.locator("text=修改数据元")).to_have_count(0)  # read-only for a security officer
    page.click("text=退出登录")
    _sign_in(page, base, "viewer", "viewer-demo-2026")
    expect(page.locator(".sidebar nav")).not_to_contain_text("账号与登录")
    response = page.goto(f"{base}/elements/person.name/edit")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("无权访问")
    shoot(page, "20-forbidden")

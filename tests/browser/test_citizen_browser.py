"""The citizen page in Chromium: sign in through the development identity provider, see 住建局's
reading of one's data after a real query, switch to English, sign out; screenshots under tests/artifacts/."""

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from console.citizen.settings import CitizenSettings
from shuyuan.embedded import Embedded, build_embedded
from tests.authkit import now_iso
from tests.citizenkit import Housing, free_port, require_consent, serve

pytestmark = pytest.mark.browser


@dataclass
class CitizenSite:
    """The running embedded exchange and 住建局's system."""

    base: str
    embedded: Embedded
    housing: Housing


@pytest.fixture(scope="module")
def citizen_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CitizenSite]:
    """The embedded exchange on a free port, its development provider mounted."""
    port = free_port()
    embedded = build_embedded(
        tmp_path_factory.mktemp("citizen-browser"),
        base_url=f"http://127.0.0.1:{port}",
        citizen_settings=CitizenSettings(environment="test"),
    )
    with serve(embedded.app, port) as base:
        yield CitizenSite(base, embedded, Housing(base, embedded))


def _fits(page: Page) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 1366, f"the page is {width} px wide: it must fit 1366x768 without scrolling sideways"


def test_citizen_signs_in_sees_the_housing_bureau_switches_language_and_signs_out(
    citizen_site: CitizenSite, page: Page, shoot
) -> None:  # type: ignore[no-untyped-def]
    person = citizen_site.embedded.subjects.demo_person
    other = citizen_site.embedded.subjects.person_only_in_psb
    _, case_no = citizen_site.housing.query(person, ["person.name", "person.household_members"])
    _, others_case = citizen_site.housing.query(other, ["person.name"])
    page.set_viewport_size({"width": 1366, "height": 768})

    page.goto(f"{citizen_site.base}/citizen/")
    expect(page.locator("h1")).to_have_text("数据使用记录")
    shoot(page, "citizen-signed-out")
    page.get_by_role("link", name="使用统一身份认证登录").click()

    # The development provider's form, clearly labelled as such; the demo person is preselected.
    expect(page.get_by_role("alert")).to_contain_text("开发用身份提供方")
    expect(page.locator(f"input[name=subject][value='person:{person}']")).to_be_checked()
    shoot(page, "citizen-dev-idp")
    page.get_by_role("button", name="登录 · Sign in").click()

    expect(page.locator("h1")).to_have_text("谁使用了我的数据")
    row = page.locator("#accesses tbody tr", has_text=case_no)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("住房和城乡建设局")
    expect(row).to_contain_text("公共租赁住房申请")
    expect(row).to_contain_text("姓名")
    when = row.locator("time")
    assert (when.get_attribute("title") or "").endswith("Z")  # ISO 8601 on hover, Beijing time shown
    expect(page.locator("#accesses")).not_to_contain_text(others_case)
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(person[-4:])
    expect(page.get_by_test_id("signed-in-as")).not_to_contain_text(person)
    _fits(page)
    shoot(page, "citizen-accesses-zh")

    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Who read my data")
    expect(page.locator("#accesses tbody tr", has_text=case_no)).to_contain_text("Case")
    _fits(page)
    shoot(page, "citizen-accesses-en")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    expect(page.locator("#accesses")).to_have_count(0)
    page.goto(f"{citizen_site.base}/citizen/")
    expect(page.get_by_role("link", name="Sign in with the identity provider")).to_be_visible()
    shoot(page, "citizen-signed-out-en")


def test_citizen_approves_a_consent_request_and_the_waiting_query_completes(
    citizen_site: CitizenSite, page: Page, shoot
) -> None:  # type: ignore[no-untyped-def]
    element = "person.si_months_paid"
    require_consent(citizen_site.base, citizen_site.embedded, element)
    person = citizen_site.embedded.subjects.demo_person
    body = {
        "query_id": "cq-consent-browser-0001",
        "subject": {"type": "person", "id": person},
        "elements": [element],
        "purpose": {"service_item": "330100-GZF-001", "case_no": "ZJJ-CONSENT-0001"},
        "on_behalf_of": "wang.fang",
        "requested_at": now_iso(),
    }
    headers = citizen_site.housing.headers()
    waiting = httpx.post(f"{citizen_site.base}/v1/queries", json=body, headers=headers).json()
    [result] = waiting["results"]
    assert result["status"] == "pending_consent"
    consent_id = result["consent_id"]

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{citizen_site.base}/citizen/")
    page.get_by_role("link", name="使用统一身份认证登录").click()
    page.get_by_role("button", name="登录 · Sign in").click()
    request = page.locator(f"#consents tr[data-consent='{consent_id}']")
    expect(request).to_contain_text("住房和城乡建设局")
    expect(request).to_contain_text("累计缴费月数")
    expect(request).to_contain_text("ZJJ-CONSENT-0001")
    _fits(page)
    shoot(page, "citizen-consent-waiting")
    request.get_by_role("button", name="同意").click()
    expect(page.locator("#consent-done")).to_contain_text("已同意")
    expect(page.locator(f"#consents tr[data-consent='{consent_id}']")).to_have_count(0)
    shoot(page, "citizen-consent-approved")

    seen = httpx.get(f"{citizen_site.base}/v1/consents/{consent_id}", headers=headers).json()
    assert seen["state"] == "approved"
    [answered] = seen["answer"]["results"]
    assert answered["status"] == "ok" and answered["jwe"]  # the waiting query completed

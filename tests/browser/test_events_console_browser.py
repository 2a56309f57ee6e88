"""A steward's event workflows in a real browser: the delivery board, a subscription with a condition
added and removed, the dead letters and a redelivery. Screenshots go to tests/artifacts/.

The pages' fit at 1366x768 is checked with every sidebar page (test_registry_console_browser.py):
the dead letters are in the sidebar, the subscription form is on the event-types page. Here they are
checked again with rows in them (a long event id, a condition, an error next to the form).
"""

import uuid
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import insert

from exchange.events.models import Delivery, Event
from protocol.clock import utcnow
from shuyuan.sample_catalogue import LICENSE_ISSUED
from tests.browser.test_registry_console_browser import STEWARD, _overflowing, _sign_in

pytestmark = pytest.mark.browser


def _dead_letter(console_server) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A dead-lettered delivery of a licence to amr (metadata and a stand-in copy, as the gateway keeps)."""
    event_id, delivery_id = f"browser-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    now = utcnow()
    with console_server.embedded.state.engine.begin() as conn:
        conn.execute(
            insert(Event.__table__),  # type: ignore[attr-defined]
            {
                "id": event_id,
                "type": LICENSE_ISSUED,
                "publisher": "xzsp",
                "published_by": "xzsp-approval",
                "subject_type": "enterprise",
                "subject_index": "ef" * 32,
                "routing": {"business_scope": "日用百货零售", "licence_type": "business_licence"},
                "body_digest": "ab" * 32,
                "published_at": now - timedelta(minutes=5),
            },
        )
        conn.execute(
            insert(Delivery.__table__),  # type: ignore[attr-defined]
            {
                "id": delivery_id,
                "event_id": event_id,
                "recipient": "amr",
                "state": "dead_lettered",
                "copy_jwe": "a.b.c.d.e",
                "attempts": 1,
                "reason": "unknown_key",
                "updated_at": now,
            },
        )
    return event_id, delivery_id


def _table_overflowing(page: Page, table: str) -> int:
    """How far a table is wider than its card (a button scrolled off inside it is out of sight)."""
    return int(page.eval_on_selector(table, "t => t.parentElement.scrollWidth - t.parentElement.clientWidth"))


def test_steward_subscribes_with_a_condition_removes_it_and_redelivers_a_dead_letter(  # type: ignore[no-untyped-def]
    console_server, page: Page, shoot
) -> None:
    event_id, delivery_id = _dead_letter(console_server)
    base = console_server.url
    page.set_viewport_size({"width": 1366, "height": 768})
    _sign_in(page, base, *STEWARD)

    page.click(".sidebar nav a[href$='/events']")
    expect(page.locator("#events-table")).to_contain_text(event_id)
    shoot(page, "40-event-board")

    page.goto(f"{base}/event-types")
    page.select_option("#s-subscriber", "zjj")
    page.select_option("#s-source", "xzsp")
    page.fill("#s-event_types", LICENSE_ISSUED)
    page.fill("#s-conditions", "business_scope contains 住房")
    page.click("#subscription-form button[type=submit]")
    row = page.locator("#subscriptions-table tr", has_text="business_scope contains 住房")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("住房和城乡建设局")
    shoot(page, "41-subscription-added")
    # The same pair again: the registry's refusal, next to the form, with its reason code.
    page.select_option("#s-subscriber", "zjj")
    page.select_option("#s-source", "xzsp")
    page.fill("#s-event_types", LICENSE_ISSUED)
    page.click("#subscription-form button[type=submit]")
    expect(page.locator("#se-all")).to_contain_text("conflict")
    assert _overflowing(page) <= 0, "the event-types page scrolls sideways at 1366x768"
    shoot(page, "42-subscription-refused")
    page.goto(f"{base}/event-types")
    page.locator("#subscriptions-table tr", has_text="business_scope contains 住房").locator("button").click()
    expect(page.locator("#subscriptions-table")).not_to_contain_text("business_scope contains 住房")

    page.goto(f"{base}/events")
    page.click("#to-dead-letters")
    dead = page.locator(f"#dead-letters-table tr[data-delivery='{delivery_id}']")
    expect(dead).to_contain_text("unknown_key")
    assert _overflowing(page) <= 0, "the dead letters scroll sideways at 1366x768"
    shoot(page, "43-dead-letters")
    page.click(".lang-switch button[value=en]")
    expect(dead).to_contain_text("Redeliver")
    assert _overflowing(page) <= 0, "the dead letters (en) scroll sideways at 1366x768"
    # Nor does the table inside its card: the steward's button is in sight, not scrolled off.
    assert _table_overflowing(page, "#dead-letters-table") <= 0
    page.goto(f"{base}/event-types")
    assert _overflowing(page) <= 0 and _table_overflowing(page, "#subscriptions-table") <= 0
    page.goto(f"{base}/events/dead-letters")
    shoot(page, "44-dead-letters-en")
    page.click(".lang-switch button[value=zh]")
    dead.locator("button").click()
    expect(page.locator("#flash")).to_contain_text("已重新投递")
    expect(page.locator("#flash")).to_contain_text(event_id)
    expect(page.locator(f"#dead-letters-table tr[data-delivery='{delivery_id}']")).to_have_count(0)
    page.goto(f"{base}/events?state=sent")
    expect(page.locator(f"#events-table [data-delivery='{delivery_id}']")).to_have_attribute(
        "data-state", "sent"
    )

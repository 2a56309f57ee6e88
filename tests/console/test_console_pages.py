"""Console pages over HTTP (TestClient): validation next to the field, workflows, pagination, search."""

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from console.settings import ConsoleSettings
from console.users import service as users
from protocol.clock import utcnow
from registry.actors import Actor
from registry.agreements import service as agreements
from registry.agreements.models import AgreementCreate
from registry.db import unit_of_work
from registry.elements import service as elements
from shuyuan.app import app_state
from shuyuan.embedded import build_embedded

SETTINGS = ConsoleSettings(environment="test", page_size=5)
PASSWORD = "pages-test-password"


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One embedded exchange with a steward and a viewer, shared by the module."""
    embedded = build_embedded(tmp_path_factory.mktemp("console-pages"), console_settings=SETTINGS)
    with TestClient(embedded.app) as client:
        with unit_of_work(embedded.state.engine) as session:
            for role in ("steward", "viewer"):
                users.create(session=session, username=role, password=PASSWORD, role=role, settings=SETTINGS)
        yield client


@pytest.fixture
def engine(app_client: TestClient) -> Engine:
    """The database behind the console."""
    return app_state(app_client.app).engine  # type: ignore[arg-type]


def _token(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def _signed_in(client: TestClient, role: str) -> TestClient:
    client.cookies.clear()
    data = {"username": role, "password": PASSWORD, "csrf_token": _token(client, "/console/login")}
    assert client.post("/console/login", data=data, follow_redirects=False).status_code == 303
    return client


@pytest.fixture
def steward(app_client: TestClient) -> TestClient:
    """A client signed in as a data steward."""
    return _signed_in(app_client, "steward")


@pytest.fixture
def viewer(app_client: TestClient) -> TestClient:
    """A client signed in as a viewer."""
    return _signed_in(app_client, "viewer")


def post(client: TestClient, path: str, data: dict[str, str], form_page: str | None = None):  # type: ignore[no-untyped-def]
    """POST a form with the session's CSRF token."""
    return client.post(
        path, data=data | {"csrf_token": _token(client, form_page or "/console/")}, follow_redirects=False
    )


def _error(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', html)
    return match.group(1) if match else ""


def element_form(code: str, **over: str) -> dict[str, str]:
    """A valid registration form."""
    base = {
        "code": code,
        "name_zh": "测试项" + code[-4:],
        "name_en": "Probe " + code[-4:],
        "subject_type": "enterprise",
        "source": "amr",
        "status": "recorded",
        "sharing_type": "unconditional",
    }
    return base | over


def test_validation_errors_are_shown_next_to_each_field(steward: TestClient, engine: Engine) -> None:
    bad = element_form(
        "Not A Code", name_zh="", subject_type="", value_schema="{not json", sensitivity="secret"
    )
    response = post(steward, "/console/elements/new", bad, "/console/elements/new")
    assert response.status_code == 422
    assert _error(response.text, "code") == "格式不正确。"
    assert _error(response.text, "name_zh") == "必填项。"
    assert _error(response.text, "subject_type") == "请从列表中选择。"
    assert _error(response.text, "value_schema") == "不是有效的 JSON。"
    assert _error(response.text, "sensitivity") == "请从列表中选择。"
    assert 'value="Not A Code"' in response.text  # what was typed is kept
    schema = element_form("enterprise.bad_schema", value_schema='{"type": "no-such-type"}')
    refused = post(steward, "/console/elements/new", schema, "/console/elements/new")
    assert refused.status_code == 400 and "不是有效的 JSON Schema" not in refused.text
    assert _error(refused.text, "value_schema").startswith("未保存：value_schema is not a valid JSON Schema")
    with unit_of_work(engine) as session:
        assert elements.get_by_code(session=session, code="enterprise.bad_schema") is None


def test_register_edit_and_advance_an_element(steward: TestClient, engine: Engine) -> None:
    code = f"enterprise.probe_{uuid.uuid4().hex[:6]}"
    created = post(
        steward, "/console/elements/new", element_form(code, reason="试点"), "/console/elements/new"
    )
    assert created.status_code == 303 and created.headers["location"] == f"/console/elements/{code}"
    page = steward.get(created.headers["location"])
    assert f"已登记数据元 {code}" in page.text and "市场监督管理局" in page.text
    cleared = post(
        steward, f"/console/elements/{code}/edit", {"name_zh": "", "name_en": "X", "grade": "core"}
    )
    assert cleared.status_code == 422 and _error(cleared.text, "name_zh") == "必填项。"
    edited = post(
        steward,
        f"/console/elements/{code}/edit",
        {"name_zh": "企业探针", "name_en": "Probe", "grade": "core", "reason": "定级"},
    )
    assert edited.status_code == 303
    advanced = post(
        steward, f"/console/elements/{code}/status", {"status": "qualified", "reason": "审核通过"}
    )
    assert advanced.status_code == 303
    with unit_of_work(engine) as session:
        element = elements.get_by_code(session=session, code=code)
        assert element is not None and (element.name_zh, element.grade, element.status) == (
            "企业探针",
            "core",
            "qualified",
        )
        history, total = elements.history(
            session=session, element=element, page=elements.PageParams(limit=10, offset=0)
        )
        assert total == 3 and history[0].actor == "console:steward (steward)" and history[1].reason == "定级"
    detail = steward.get(f"/console/elements/{code}").text
    assert "定级" in detail and "审核通过" in detail and "已审核" in detail


def test_a_duplicate_becomes_a_dispute_that_the_steward_settles(steward: TestClient, engine: Engine) -> None:
    suffix = uuid.uuid4().hex[:6]
    original = element_form(
        f"enterprise.tax_credit_{suffix}",
        name_zh=f"纳税信用等级{suffix}",
        name_en=f"Tax credit rating {suffix}",
    )
    assert post(steward, "/console/elements/new", original, "/console/elements/new").status_code == 303
    claim = original | {"source": "xzsp"}  # same code, another department
    response = post(steward, "/console/elements/new", claim, "/console/elements/new")
    assert response.status_code == 303 and response.headers["location"].startswith("/console/disputes/")
    dispute_page = response.headers["location"]
    page = steward.get(dispute_page).text
    assert "已转为争议" in page and "行政审批局 的申请" in page
    assert "&lt;" not in page  # department labels are text, never escaped markup
    wrong = post(
        steward, f"{dispute_page}/resolve", {"resolution": "merge"}
    )  # merge is for near-duplicates only
    assert (
        wrong.status_code == 422 and _error(wrong.text, "resolution") == "" and "请从列表中选择" in wrong.text
    )
    settled = post(
        steward, f"{dispute_page}/resolve", {"resolution": "handover", "note": "行政审批局为法定数源"}
    )
    assert settled.status_code == 303
    assert "移交数源" in steward.get(dispute_page).text
    with unit_of_work(engine) as session:
        element = elements.get_by_code(session=session, code=original["code"])
        assert element is not None and elements.source_code(session=session, element=element) == "xzsp"


def test_agreements_are_approved_or_rejected_with_a_reason(steward: TestClient, engine: Engine) -> None:
    now = utcnow()
    ids = []
    with unit_of_work(engine) as session:
        for consumer in ("xzsp", "amr"):
            request_in = AgreementCreate(
                consumer=consumer,
                element="person.si_contribution_base",
                service_item="330100-GZF-001",
                legal_basis="测试依据",
                valid_from=now,
                valid_until=now + timedelta(days=30),
            )
            clerk = Actor(name="clerk", department=consumer)
            ids.append(agreements.request(session=session, agreement_in=request_in, actor=clerk).id)
    queue = steward.get("/console/agreements").text
    assert all(f'data-agreement="{i}"' in queue for i in ids)
    blank = post(steward, f"/console/agreements/{ids[0]}/reject", {"reason": "  "})
    assert blank.status_code == 422 and _error(blank.text, "reject") == "驳回必须说明理由。"
    assert post(steward, f"/console/agreements/{ids[0]}/reject", {"reason": "用途不符"}).status_code == 303
    assert post(steward, f"/console/agreements/{ids[1]}/approve", {"reason": ""}).status_code == 303
    again = post(steward, f"/console/agreements/{ids[1]}/approve", {})
    assert again.status_code == 409 and "未保存" in again.text
    with unit_of_work(engine) as session:
        states = [agreements.get_or_raise(session=session, agreement_id=i).status for i in ids]
    assert states == ["rejected", "approved"]
    queue = steward.get("/console/agreements").text  # decided requests leave the queue
    assert not any(f'data-agreement="{i}"' in queue for i in ids)


def test_retiring_needs_the_confirmed_impact_list(steward: TestClient, engine: Engine) -> None:
    code = f"enterprise.retire_{uuid.uuid4().hex[:6]}"
    assert (
        post(steward, "/console/elements/new", element_form(code), "/console/elements/new").status_code == 303
    )
    form = steward.get(f"/console/elements/{code}/retire").text
    token = re.search(r'name="token" value="([0-9a-f]+)"', form).group(1)  # type: ignore[union-attr]
    unconfirmed = post(
        steward, f"/console/elements/{code}/retire", {"to": "retired", "reason": "停用", "token": token}
    )
    assert unconfirmed.status_code == 422 and _error(unconfirmed.text, "confirmed") == "请先确认影响清单。"
    stale = post(
        steward,
        f"/console/elements/{code}/retire",
        {"to": "retired", "reason": "停用", "token": "0" * 32, "confirmed": "yes"},
    )
    assert stale.status_code == 422 and "impact list changed" in stale.text
    with unit_of_work(engine) as session:
        assert elements.get_by_code(session=session, code=code).status == "recorded"  # type: ignore[union-attr]
    done = post(
        steward,
        f"/console/elements/{code}/retire",
        {"to": "retired", "reason": "停用", "token": token, "confirmed": "yes"},
    )
    assert done.status_code == 303
    with unit_of_work(engine) as session:
        assert elements.get_by_code(session=session, code=code).status == "retired"  # type: ignore[union-attr]


def test_search_in_both_languages_and_by_alias_with_pagination(viewer: TestClient) -> None:
    assert "person.registered_address" in viewer.get("/console/elements", params={"q": "户籍"}).text
    assert (
        "person.registered_address"
        in viewer.get("/console/elements", params={"q": "registered ADDRESS"}).text
    )
    fragment = viewer.get("/console/elements", params={"q": "姓名"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "person.name" in fragment.text
    first = viewer.get("/console/elements").text
    assert first.count("<tr>") - 1 == SETTINGS.page_size and 'rel="next"' in first
    second = viewer.get("/console/elements", params={"page": 2}).text
    assert "第 6–10 条" in second and 'rel="prev"' in second
    assert (
        viewer.get("/console/elements", params={"page": "x"}).status_code == 200
    )  # a bad page number is page 1


def test_every_page_renders_for_a_viewer_in_both_languages(viewer: TestClient) -> None:
    pages = [
        "/console/",
        "/console/elements",
        "/console/elements/person.name",
        "/console/departments",
        "/console/departments/hrss",
        "/console/service-items",
        "/console/service-items/330100-GZF-001",
        "/console/agreements?status=all",
        "/console/agreements?overdue=1",
        "/console/disputes",
        "/console/disputes?status=resolved",
        "/console/corrections",
        "/console/corrections?state=fixed",
        "/console/corrections?overdue=true",
    ]
    for lang, word in (("zh", "工作台"), ("en", "Dashboard")):
        post(viewer, "/console/lang", {"lang": lang})
        for path in pages:
            response = viewer.get(path)
            assert response.status_code == 200, path
            assert word in response.text
            leaked = re.findall(
                r">\s*((?:field|form|nav|status|sharing|agreements|disputes|corrections?)\.[a-z_.]+)\s*<",
                response.text,
            )
            assert not leaked, f"untranslated keys on {path}: {leaked}"
    missing = viewer.get("/console/elements/person.nothing")
    assert missing.status_code == 404 and "Not found" in missing.text


def test_dashboard_counts_follow_the_registry(steward: TestClient, engine: Engine) -> None:
    def stat(name: str) -> int:
        html = steward.get("/console/").text
        return int(re.search(rf'data-stat="{name}">.*?<div class="value">(\d+)</div>', html, re.S).group(1))  # type: ignore[union-attr]

    before = stat("elements"), stat("pending")
    before_overdue = stat("overdue")
    code = f"enterprise.count_{uuid.uuid4().hex[:6]}"
    post(steward, "/console/elements/new", element_form(code), "/console/elements/new")
    now = utcnow()
    with unit_of_work(engine) as session:
        agreements.request(
            session=session,
            actor=Actor(name="clerk", department="psb"),
            agreement_in=AgreementCreate(
                consumer="psb",
                element="person.si_contribution_base",
                service_item="330100-GZF-001",
                legal_basis="测试",
                valid_from=now,
                valid_until=now + timedelta(days=5),
            ),
        )
    assert (stat("elements"), stat("pending")) == (before[0] + 1, before[1] + 1)
    # A request filed three weeks ago is past its 10-working-day deadline: counted and listed as overdue.
    late_start = now - timedelta(days=21)
    with unit_of_work(engine) as session:
        late = agreements.request(
            session=session,
            actor=Actor(name="clerk", department="psb"),
            agreement_in=AgreementCreate(
                consumer="psb",
                element="person.si_months_paid",
                service_item="330100-GZF-001",
                legal_basis="测试",
                valid_from=late_start,
                valid_until=now + timedelta(days=5),
            ),
            now=late_start,
        )
    assert stat("overdue") == before_overdue + 1
    dashboard = steward.get("/console/").text
    assert f'href="/console/agreements/{late.id}">#{late.id}</a>' in dashboard
    listed = steward.get("/console/agreements", params={"overdue": 1}).text
    assert f'data-agreement="{late.id}"' in listed and 'class="badge bad"' in listed


def test_a_handover_is_proposed_then_accepted_or_declined(steward: TestClient, engine: Engine) -> None:
    codes = []
    for _ in range(2):
        code = f"enterprise.handover_{uuid.uuid4().hex[:6]}"
        assert (
            post(steward, "/console/elements/new", element_form(code), "/console/elements/new").status_code
            == 303
        )
        codes.append(code)
    missing = post(steward, "/console/handovers", {"element": codes[0], "to": "xzsp", "reason": ""})
    assert (
        missing.status_code == 303
        and "请选择接收部门并说明原因" in steward.get(missing.headers["location"]).text
    )
    for code in codes:
        assert (
            post(
                steward, "/console/handovers", {"element": code, "to": "xzsp", "reason": "职能调整"}
            ).status_code
            == 303
        )
    twice = post(steward, "/console/handovers", {"element": codes[0], "to": "psb", "reason": "再议"})
    assert "already has a handover waiting" in steward.get(twice.headers["location"]).text
    waiting = steward.get("/console/disputes").text
    ids = [
        int(
            re.search(
                rf'data-handover="(\d+)">\s*<td>#\d+</td><td><a class="code" href="[^"]*/{c}"', waiting
            ).group(1)
        )  # type: ignore[union-attr]
        for c in codes
    ]
    assert post(steward, f"/console/handovers/{ids[0]}/accept", {"note": "同意"}).status_code == 303
    assert post(steward, f"/console/handovers/{ids[1]}/reject", {"note": "不同意"}).status_code == 303
    assert (
        post(steward, f"/console/handovers/{ids[1]}/annul", {}).status_code == 303
    )  # unknown decision: refused
    with unit_of_work(engine) as session:
        sources = [
            elements.source_code(session=session, element=elements.get_by_code(session=session, code=c))  # type: ignore[arg-type]
            for c in codes
        ]
    assert sources == ["xzsp", "amr"]
    assert "数源移交" in steward.get(f"/console/elements/{codes[0]}").text

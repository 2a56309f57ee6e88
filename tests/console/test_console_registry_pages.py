"""Console pages for a steward's registry workflows: aliases, systems and keys, restrictions, catalogue."""

import html
import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from console.settings import ConsoleSettings
from console.users import service as users
from exchange.audit.models import AuditEntry
from exchange.transparency import service as transparency
from protocol.clock import utcnow
from registry.aliases.models import ElementAlias
from registry.db import unit_of_work
from registry.service_items import service as service_items
from registry.systems.models import ClientKey, ClientSystem
from shuyuan.app import app_state
from shuyuan.embedded import build_embedded

SETTINGS = ConsoleSettings(environment="test", page_size=5)
PASSWORD = "registry-pages-password"
ROLES = ("steward", "viewer", "security_officer")


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One embedded exchange (the sample catalogue) with a steward, a viewer and a security officer."""
    embedded = build_embedded(tmp_path_factory.mktemp("console-registry"), console_settings=SETTINGS)
    with TestClient(embedded.app) as client:
        with unit_of_work(embedded.state.engine) as session:
            for role in ROLES:
                users.create(session=session, username=role, password=PASSWORD, role=role, settings=SETTINGS)
        yield client


@pytest.fixture
def engine(app_client: TestClient) -> Engine:
    """The database behind the console."""
    return app_state(app_client.app).engine  # type: ignore[arg-type]


def _token(client: TestClient, path: str = "/console/") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match
    return match.group(1)


def signed_in(client: TestClient, role: str) -> TestClient:
    """The shared client, signed in afresh as `role`."""
    client.cookies.clear()
    data = {"username": role, "password": PASSWORD, "csrf_token": _token(client, "/console/login")}
    assert client.post("/console/login", data=data, follow_redirects=False).status_code == 303
    return client


def post(client: TestClient, path: str, data: dict[str, str] | None = None, **kw):  # type: ignore[no-untyped-def]
    """POST a form with the session's CSRF token."""
    kw.setdefault("follow_redirects", False)
    return client.post(path, data=(data or {}) | {"csrf_token": _token(client)}, **kw)


def _error(html: str, field: str) -> str:
    match = re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', html)
    return match.group(1) if match else ""


def test_a_steward_adds_and_retires_an_alias_and_a_taken_code_is_refused_inline(
    app_client: TestClient, engine: Engine
) -> None:
    steward = signed_in(app_client, "steward")
    code = f"L{uuid.uuid4().hex[:8]}"
    alias = {"element": "person.name", "scope_type": "department", "scope": "psb", "local_code": code}
    assert post(steward, "/console/aliases", alias | {"local_name": "姓名"}).status_code == 303
    with unit_of_work(engine) as session:
        row = session.exec(select(ElementAlias).where(ElementAlias.local_code == code)).one()
        alias_id = row.id
    listed = steward.get("/console/aliases", params={"scope": "psb"}).text
    assert code in listed and "person.name" in listed

    again = post(steward, "/console/aliases", alias | {"element": "person.gender", "local_name": "x"})
    assert again.status_code == 409
    assert "conflict" in _error(again.text, "local_code")  # the reason code, next to the field
    unknown = post(steward, "/console/aliases", alias | {"element": "no.such", "local_name": "x"})
    assert unknown.status_code == 422 and "not_found" in _error(unknown.text, "element")
    missing = post(steward, "/console/aliases", {"element": "person.name", "scope_type": "department"})
    assert missing.status_code == 422 and _error(missing.text, "local_code")

    assert post(steward, f"/console/aliases/{alias_id}/retire").status_code == 303
    with unit_of_work(engine) as session:
        assert session.get(ElementAlias, alias_id) is None


def test_aliases_page_by_page(app_client: TestClient, engine: Engine) -> None:
    steward = signed_in(app_client, "steward")
    scope = f"s{uuid.uuid4().hex[:6]}"
    for n in range(7):
        data = {"element": "person.name", "scope_type": "region", "scope": scope, "local_code": f"paged-{n}"}
        assert post(steward, "/console/aliases", data | {"local_name": f"n{n}"}).status_code == 303
    first = steward.get("/console/aliases", params={"scope": scope}).text
    second = steward.get("/console/aliases", params={"scope": scope, "page": 2}).text
    assert "paged-0" in first and "paged-4" in first and "paged-5" not in first
    assert "paged-5" in second and "paged-6" in second and 'rel="prev"' in second


def test_a_steward_disables_and_enables_a_system_and_revokes_a_key(
    app_client: TestClient, engine: Engine
) -> None:
    steward = signed_in(app_client, "steward")
    with unit_of_work(engine) as session:
        system = session.exec(select(ClientSystem).where(ClientSystem.client_id == "hrss-si")).one()
        key = session.exec(select(ClientKey).where(ClientKey.system_id == system.id)).first()
        assert key is not None
        kid, x = key.kid, json.loads(key.jwk)["x"]
    page = steward.get("/console/systems/hrss-si").text
    assert kid in page and ("EdDSA" in page or "ES256" in page)
    assert x not in page  # key material is never shown, only kid, algorithm, validity
    assert 'title="' in page and "<time" in page  # times in Beijing time with the ISO instant

    assert post(steward, "/console/systems/hrss-si/status", {"status": "disabled"}).status_code == 303
    with unit_of_work(engine) as session:
        assert (
            session.exec(select(ClientSystem).where(ClientSystem.client_id == "hrss-si")).one().status
            == "disabled"
        )
    assert post(steward, "/console/systems/hrss-si/status", {"status": "active"}).status_code == 303
    bad = post(steward, "/console/systems/hrss-si/status", {"status": "gone"})
    assert bad.status_code == 303

    assert post(steward, f"/console/systems/hrss-si/keys/{kid}/revoke").status_code == 303
    with unit_of_work(engine) as session:
        revoked = session.exec(select(ClientKey).where(ClientKey.kid == kid)).one()
        assert revoked.revoked_at is not None
        assert (
            session.exec(select(ClientSystem).where(ClientSystem.client_id == "hrss-si")).one().status
            == "active"
        )
    missing = post(steward, "/console/systems/hrss-si/keys/no-such-kid/revoke", follow_redirects=True)
    assert "not_found" in missing.text  # the refusal's reason code in the flash


def test_a_reviewer_approves_a_long_restriction_once_and_it_is_audited(
    app_client: TestClient, engine: Engine
) -> None:
    query_id = f"q-{uuid.uuid4().hex[:12]}"
    stored = transparency.add_restriction(
        engine=engine,
        department="zjj",
        created_by="zjj-housing",
        query_id=query_id,
        embargo_until=utcnow() + timedelta(days=120),
        reason="ongoing investigation",
        now=utcnow(),
    )
    assert stored["approval"] == "pending"
    officer = signed_in(app_client, "security_officer")
    assert query_id in officer.get("/console/restrictions").text
    assert post(officer, f"/console/restrictions/{stored['id']}/approve").status_code == 303
    assert query_id not in officer.get("/console/restrictions").text  # no longer pending
    assert query_id in officer.get("/console/restrictions", params={"status": "all"}).text
    again = post(officer, f"/console/restrictions/{stored['id']}/approve", follow_redirects=True)
    assert "conflict" in again.text
    with unit_of_work(engine) as session:
        audit = session.exec(select(AuditEntry).where(AuditEntry.request_id == query_id)).all()
    assert [(a.action, a.actor_system) for a in audit] == [
        ("transparency.approved", "console:security_officer")
    ]


def test_export_then_import_previews_and_confirms_and_bad_rows_are_listed(app_client: TestClient) -> None:
    steward = signed_in(app_client, "steward")
    exported = steward.get("/console/catalogue/export.json")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    document = exported.json()
    assert any(e["code"] == "person.name" for e in document["elements"])
    csv = steward.get("/console/catalogue/export/elements.csv")
    assert csv.text.startswith("\ufeff") and "person.name" in csv.text

    files = {"file": ("catalogue.json", exported.content, "application/json")}
    preview = post(steward, "/console/catalogue/import", {"kind": "json"}, files=files)
    assert preview.status_code == 200 and 'id="import-preview"' in preview.text
    text = re.search(r'<textarea name="text" hidden>(.*?)</textarea>', preview.text, re.S)
    assert text
    # The confirmation sends back the previewed text, as the browser's hidden field does.
    sent_back = {"kind": "json", "confirm": "yes", "text": html.unescape(text.group(1))}
    confirmed = post(steward, "/console/catalogue/import", sent_back)
    assert confirmed.status_code == 200 and 'id="import-done"' in confirmed.text

    broken = {"elements": [{"code": "bad code!"}], "service_items": []}
    files = {"file": ("bad.json", json.dumps(broken).encode(), "application/json")}
    refused = post(steward, "/console/catalogue/import", {"kind": "json"}, files=files)
    assert (
        refused.status_code == 422
        and "import_failed" in refused.text
        and 'id="import-problems"' in refused.text
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/console/aliases"),
        ("post", "/console/aliases/1/retire"),
        ("post", "/console/systems/hrss-si/status"),
        ("post", "/console/systems/hrss-si/keys/k/revoke"),
        ("post", "/console/catalogue/import"),
        ("get", "/console/restrictions"),
        ("post", "/console/restrictions/1/approve"),
    ],
)
def test_a_viewer_is_refused_every_steward_action(app_client: TestClient, method: str, path: str) -> None:
    viewer = signed_in(app_client, "viewer")
    response = post(viewer, path) if method == "post" else viewer.get(path)
    assert response.status_code == 403


def test_every_new_page_renders_in_both_languages(app_client: TestClient) -> None:
    steward = signed_in(app_client, "steward")
    for lang in ("zh", "en"):
        post(steward, "/console/lang", {"lang": lang, "next": "/console/"})
        for path in (
            "/console/aliases",
            "/console/systems/zjj-housing",
            "/console/restrictions",
            "/console/catalogue",
        ):
            page = steward.get(path)
            assert page.status_code == 200, path
            assert not re.search(r">(aliases|systems|restrictions|catalogue)\.[a-z_]+<", page.text), path


def test_a_steward_registers_and_edits_a_service_item_with_materials(
    app_client: TestClient, engine: Engine
) -> None:
    steward = signed_in(app_client, "steward")
    code = f"item-{uuid.uuid4().hex[:6]}"
    form = {
        "code": code,
        "name": "测试事项",
        "handling_department": "zjj",
        "participants": "psb",
        "materials": "身份证明: person.name, person.gender\n户口簿:",
    }
    assert post(steward, "/console/service-items/new", form).status_code == 303
    with unit_of_work(engine) as session:
        read = service_items.to_read(
            session=session, item=service_items.get_by_code_or_raise(session=session, code=code)
        )
    assert [(m.name, m.elements) for m in read.materials] == [
        ("身份证明", ["person.gender", "person.name"]),
        ("户口簿", []),
    ]
    assert read.participants == ["psb"]
    edit = steward.get(f"/console/service-items/{code}/edit").text
    assert "身份证明: person.gender, person.name" in edit  # as the registry reads it

    changed = form | {"name": "改名事项", "participants": "", "materials": "身份证明: person.birth_date"}
    assert post(steward, f"/console/service-items/{code}/edit", changed).status_code == 303
    with unit_of_work(engine) as session:
        read = service_items.to_read(
            session=session, item=service_items.get_by_code_or_raise(session=session, code=code)
        )
    assert (read.name, read.participants) == ("改名事项", [])
    assert [(m.name, m.elements) for m in read.materials] == [("身份证明", ["person.birth_date"])]

    taken = post(steward, "/console/service-items/new", form)
    assert taken.status_code == 409 and "conflict" in _error(taken.text, "code")
    unknown = post(
        steward, "/console/service-items/new", form | {"code": f"{code}-b", "materials": "x: no.such"}
    )
    assert unknown.status_code == 400 and "invalid_request" in _error(unknown.text, "materials")
    handler = post(steward, "/console/service-items/new", form | {"code": f"{code}-c", "participants": "zjj"})
    assert "invalid_request" in _error(handler.text, "participants")
    blank = post(steward, "/console/service-items/new", form | {"code": f"{code}-d", "name": ""})
    assert blank.status_code == 422 and _error(blank.text, "name")
    viewer = signed_in(app_client, "viewer")
    assert post(viewer, "/console/service-items/new", form | {"code": f"{code}-e"}).status_code == 403
    assert viewer.get(f"/console/service-items/{code}/edit").status_code == 403


def test_a_steward_edits_a_bundles_roles_and_steps_and_an_edit_keeps_them(
    app_client: TestClient, engine: Engine
) -> None:
    steward = signed_in(app_client, "steward")
    code = f"yjs-{uuid.uuid4().hex[:6]}"
    form = {
        "code": code,
        "name": "测试一件事",
        "handling_department": "zjj",
        "participants": "hrss",
        "subjects": "applicant: person 申请人\nspouse: person 配偶",
        "materials": "\n".join(
            (
                "身份证明: person.name",
                "配偶身份证明 @spouse: person.name",
                "参保证明: person.si_status",
                "户口簿:",
            )
        ),
        "steps": "housing @zjj 住房审核: 身份证明 | 配偶身份证明\ninsurance @hrss 社保核验: 参保证明",
    }
    assert post(steward, "/console/service-items/new", form).status_code == 303
    with unit_of_work(engine) as session:
        read = service_items.to_read(
            session=session, item=service_items.get_by_code_or_raise(session=session, code=code)
        )
    assert [(r.role, r.subject_type, r.name) for r in read.subjects] == [
        ("applicant", "person", "申请人"),
        ("spouse", "person", "配偶"),
    ]
    assert [(m.name, m.subject_role) for m in read.materials][:2] == [
        ("身份证明", "applicant"),
        ("配偶身份证明", "spouse"),
    ]
    assert [(st.code, st.department, st.name, st.materials) for st in read.steps] == [
        ("housing", "zjj", "住房审核", ["身份证明", "配偶身份证明"]),
        ("insurance", "hrss", "社保核验", ["参保证明"]),
    ]
    # The edit form shows them as the registry reads them, so saving it unchanged drops nothing.
    edit = html.unescape(steward.get(f"/console/service-items/{code}/edit").text)
    assert "housing @zjj 住房审核: 身份证明 | 配偶身份证明" in edit
    assert "配偶身份证明 @spouse: person.name" in edit and "spouse: person 配偶" in edit
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'<textarea[^>]*name="([a-z_]+)"[^>]*>([^<]*)</textarea>', edit)
    }
    unchanged = {"name": "测试一件事", "handling_department": "zjj", "participants": "hrss"} | fields
    assert post(steward, f"/console/service-items/{code}/edit", unchanged).status_code == 303
    with unit_of_work(engine) as session:
        again = service_items.to_read(
            session=session, item=service_items.get_by_code_or_raise(session=session, code=code)
        )
    assert again.model_dump(exclude={"created_at"}) == read.model_dump(exclude={"created_at"})
    detail = steward.get(f"/console/service-items/{code}").text
    assert 'id="item-steps"' in detail and "社保核验" in detail
    # A step of a department that takes no part is shown next to the steps, with its reason code.
    refused = post(steward, f"/console/service-items/{code}/edit", unchanged | {"participants": ""})
    assert refused.status_code == 400 and "step_not_participant" in _error(refused.text, "steps")

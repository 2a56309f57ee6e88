"""The citizen page over real HTTP: OpenID Connect sign-in through the development provider, the
accesses of the signed-in subject only, embargoes, paging, sign-out; and what the sign-in refuses."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from console.citizen.session import COOKIE_NAME
from console.citizen.settings import CitizenSettings
from exchange.transparency.settings import TransparencySettings
from shuyuan.dev_idp.mount import CLIENT_ID
from shuyuan.dev_idp.provider import DevProvider, create_dev_provider, load_or_create_key
from shuyuan.embedded import Embedded, build_embedded
from tests.citizenkit import Housing, free_port, serve, sign_in


@dataclass
class Site:
    """A running embedded exchange (development provider mounted) and 住建局's system."""

    base: str
    embedded: Embedded
    housing: Housing

    def client(self) -> httpx.Client:
        """A fresh browser-like client (its own cookies)."""
        return httpx.Client(base_url=self.base, timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The embedded exchange served on a free port, three accesses per page."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    embedded = build_embedded(
        tmp_path_factory.mktemp("citizen"),
        base_url=base,
        citizen_settings=CitizenSettings(environment="test", page_size=3),
    )
    with serve(embedded.app, port) as url:
        yield Site(url, embedded, Housing(url, embedded))


def _rows(page: httpx.Response) -> int:
    return page.text.count('<tr data-department="')


def test_the_citizen_signs_in_and_sees_the_housing_bureaus_reading(site: Site) -> None:
    person = site.embedded.subjects.demo_person
    _, case_no = site.housing.query(person, ["person.name", "person.household_members"])
    with site.client() as http:
        signed_out = http.get("/citizen/")
        assert "使用统一身份认证登录" in signed_out.text
        page = sign_in(http, person)
        assert page.status_code == 200, page.text
        assert str(page.url) == f"{site.base}/citizen/"
        assert case_no in page.text
        assert "住房和城乡建设局" in page.text and "公共租赁住房申请" in page.text
        assert "姓名" in page.text and "户成员" in page.text
        assert person not in page.text  # only a masked identifier is shown
        assert f"{person[:4]}{'*' * 10}{person[-4:]}" in page.text
        cookie = http.cookies[COOKIE_NAME]
        assert person not in cookie and cookie.count(".") == 4  # a JWE, not a readable payload
        header = next(h for h in page.history[0].headers.get_list("set-cookie") if COOKIE_NAME in h)
        assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/citizen" in header


def test_no_other_subjects_accesses_appear(site: Site) -> None:
    subjects = site.embedded.subjects
    me, other = subjects.all_persons[3], subjects.all_persons[4]
    _, mine = site.housing.query(me, ["person.name"])
    _, theirs = site.housing.query(other, ["person.name"])
    with site.client() as http:
        page = sign_in(http, me)
        assert mine in page.text and theirs not in page.text
        assert _rows(page) == 1
    with site.client() as http:
        page = sign_in(http, other)
        assert theirs in page.text and mine not in page.text


def test_a_restricted_access_appears_once_its_embargo_lifts(site: Site) -> None:
    person = site.embedded.subjects.all_persons[5]
    query_id, case_no = site.housing.query(person, ["person.name"])
    site.housing.restrict(query_id, seconds=3)
    lifted_at = time.time() + 3
    with site.client() as http:
        page = sign_in(http, person)
        assert case_no not in page.text and "没有部门读取过您的数据" in page.text
        time.sleep(max(0.0, lifted_at - time.time()) + 0.5)
        assert case_no in http.get("/citizen/").text


def test_accesses_are_paged_newest_first(site: Site) -> None:
    person = site.embedded.subjects.all_persons[6]
    cases = [site.housing.query(person, ["person.name"])[1] for _ in range(4)]
    with site.client() as http:
        first = sign_in(http, person)
        assert _rows(first) == 3
        assert first.text.index(cases[3]) < first.text.index(cases[2]) < first.text.index(cases[1])
        assert cases[0] not in first.text
        older = first.text.split('href="/citizen/?before=')[1].split('"')[0]
        second = http.get(f"/citizen/?before={older}")
        assert _rows(second) == 1 and cases[0] in second.text


def test_english_and_sign_out(site: Site) -> None:
    person = site.embedded.subjects.demo_person
    with site.client() as http:
        page = sign_in(http, person)
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        english = http.post("/citizen/lang", data={"lang": "en", "csrf_token": csrf}, follow_redirects=True)
        assert "Who read my data" in english.text
        refused = http.post("/citizen/logout", data={"csrf_token": "wrong"})
        assert refused.status_code == 403
        out = http.post("/citizen/logout", data={"csrf_token": csrf}, follow_redirects=True)
        assert "You are signed out." in out.text and "Who read my data" not in out.text
        assert "Sign in with the identity provider" in http.get("/citizen/").text


def test_a_changed_state_is_refused(site: Site) -> None:
    with site.client() as http:
        page = sign_in(http, site.embedded.subjects.demo_person, callback_changes={"state": "forged"})
        assert page.status_code == 401
        assert "登录未成功" in page.text and "不是本页面发起的" in page.text
        assert COOKIE_NAME not in http.cookies or "subject" not in http.get("/citizen/").text
        assert "使用统一身份认证登录" in http.get("/citizen/").text


def test_a_state_is_used_once(site: Site) -> None:
    with site.client() as http:
        page = sign_in(http, site.embedded.subjects.demo_person)
        assert page.status_code == 200
        replay = http.get(page.history[0].url)  # the provider's redirect again: code and state used
        assert replay.status_code == 401 and "不是本页面发起的" in replay.text


def test_a_changed_nonce_is_refused(site: Site) -> None:
    with site.client() as http:
        page = sign_in(http, site.embedded.subjects.demo_person, authorize_changes={"nonce": "injected"})
        assert page.status_code == 401
        assert "身份令牌未通过校验" in page.text and "InvalidClaimError" in page.text
        assert "使用统一身份认证登录" in http.get("/citizen/").text


def test_a_tampered_code_is_refused(site: Site) -> None:
    with site.client() as http:
        page = sign_in(http, site.embedded.subjects.demo_person, callback_changes={"code": "tampered"})
        assert page.status_code == 401
        assert "无法用身份认证服务返回的授权码换取身份令牌" in page.text and "invalid_grant" in page.text


def test_a_changed_code_challenge_is_refused(site: Site) -> None:
    # PKCE: a code obtained with another challenge cannot be redeemed with this flow's verifier.
    with site.client() as http:
        page = sign_in(
            http, site.embedded.subjects.demo_person, authorize_changes={"code_challenge": "A" * 43}
        )
        assert page.status_code == 401 and "invalid_grant" in page.text


def test_an_unregistered_redirect_uri_is_not_followed(site: Site) -> None:
    with site.client() as http:
        start = http.get("/citizen/login")
        evil = start.headers["location"].replace(
            "redirect_uri=http", "redirect_uri=https%3A%2F%2Fevil.example"
        )
        answer = http.get(evil)
        assert answer.status_code == 400 and "redirect_uri" in answer.text


def test_a_token_for_another_audience_is_refused(tmp_path: Path) -> None:
    """A provider configured apart (not the mounted one) that issues the page's tokens to another client."""
    idp_port, port = free_port(), free_port()
    issuer, base = f"http://127.0.0.1:{idp_port}", f"http://127.0.0.1:{port}"
    provider = DevProvider(
        issuer=issuer, key=load_or_create_key(None), clients={"portal-x": (f"{base}/citizen/callback",)}
    )
    embedded = build_embedded(
        tmp_path,
        base_url=base,
        citizen_settings=CitizenSettings(environment="test", client_id="portal-x"),
        # The gateway accepts ID tokens for its own audience only.
        transparency_settings=TransparencySettings(oidc_issuer=issuer, oidc_audience=CLIENT_ID),
    )
    mounted = [getattr(r, "path", "") for r in embedded.app.routes]
    assert "/dev-idp" not in mounted  # an issuer is configured: the development provider stays out
    with (
        serve(create_dev_provider(provider), idp_port),
        serve(embedded.app, port) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        page = sign_in(http, embedded.subjects.demo_person)
    assert page.status_code == 401
    assert "身份令牌未通过校验" in page.text and "InvalidClaimError" in page.text


def test_a_forged_or_altered_session_cookie_is_no_session(site: Site) -> None:
    with site.client() as http:
        sign_in(http, site.embedded.subjects.demo_person)
        genuine = http.cookies[COOKIE_NAME]
        head, key, iv, ciphertext, tag = genuine.split(".")
        flipped = ciphertext[:-2] + ("A" if ciphertext[-2] != "A" else "B") + ciphertext[-1]
        for forged in (".".join((head, key, iv, flipped, tag)), "not-a-jwe"):
            http.cookies.clear()
            http.cookies.set(COOKIE_NAME, forged, domain="127.0.0.1", path="/citizen")
            page = http.get("/citizen/")
            assert page.status_code == 200 and "使用统一身份认证登录" in page.text

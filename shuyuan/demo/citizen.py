"""What the citizen sees: the demo signs in on the citizen page as the person, the way a browser does.

`make run` ships the development identity provider, so the demo follows the page's own OpenID Connect
redirects (authorization code + PKCE), answers the provider's sign-in form as the person, and reads
the page it lands on (数据使用记录). Nothing here talks to an API a citizen would not use.
"""

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import httpx

from shuyuan.demo.runner import expect


@dataclass(frozen=True)
class SeenAccess:
    """One row of the citizen page: which department read which elements (codes) for what."""

    department: str
    elements: tuple[str, ...]
    text: str


class _AccessRows(HTMLParser):
    """The rows of the page's `#accesses` table: `data-department` and the element badges' codes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[SeenAccess] = []
        self._department: str | None = None
        self._elements: list[str] = []
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-department"):
            self._department, self._elements, self._text = found["data-department"], [], []
        elif self._department is not None and tag == "span" and "info" in (found.get("class") or ""):
            self._elements.append(found.get("title") or "")

    def handle_data(self, data: str) -> None:
        if self._department is not None and data.strip():
            self._text.append(data.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._department is not None:
            self.rows.append(SeenAccess(self._department, tuple(self._elements), " ".join(self._text)))
            self._department = None


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def citizen_page(base_url: str, subject_id: str) -> list[SeenAccess]:
    """Sign in on the citizen page as `subject_id` (development provider) and read who read their data."""
    with httpx.Client(base_url=base_url, follow_redirects=True, timeout=30) as browser:
        form = browser.get("/citizen/login")  # the page sends the browser to the identity provider
        expect(form.status_code == 200 and "dev-idp" in str(form.url), f"no sign-in form at {form.url}")
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(form.text)}
        page = browser.post(str(form.url), data=fields | {"typed": subject_id})  # back to the page
        expect(page.status_code == 200 and "/citizen" in str(page.url), f"not signed in: {page.url}")
    rows = _AccessRows()
    rows.feed(page.text)
    return rows.rows

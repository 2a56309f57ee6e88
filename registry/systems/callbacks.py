"""The callback URLs a client system registers: the only addresses the gateway ever calls for it.

A URL in a query body is never called unless it is registered here (docs/security.md, "Callbacks"):
registration by the system's own department or a steward is the SSRF defence, so the rules are strict.
"""

from urllib.parse import urlsplit

from protocol.errors import InvalidRequest
from registry.systems.models import ClientSystem

MAX_URL_LENGTH = 500
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
PLAIN_HTTP_ENVIRONMENTS = frozenset({"development", "test"})


def check_callback_url(url: str, *, environment: str) -> str:
    """The URL if it may be registered; InvalidRequest says why not."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise InvalidRequest(f"a callback URL has at most {MAX_URL_LENGTH} characters and no spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"not a URL: {url[:80]!r}") from exc
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        raise InvalidRequest("a callback URL names a host, and has no user info and no fragment")
    if parts.scheme == "https":
        return url
    loopback = parts.hostname in LOOPBACK_HOSTS
    if parts.scheme == "http" and loopback and environment in PLAIN_HTTP_ENVIRONMENTS and port != 0:
        return url
    raise InvalidRequest(
        "callback URLs are https (plain http only to 127.0.0.1 or localhost in development and test)"
    )


def callback_urls(system: ClientSystem) -> list[str]:
    """The system's registered callback URLs, in registration order."""
    return system.callback_urls.split()

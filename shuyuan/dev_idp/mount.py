"""When the development provider is mounted, and what the gateway then trusts.

Only in `development` or `test`, and only when no real provider is configured
(SHUYUAN_TRANSPARENCY_OIDC_ISSUER unset): the transparency settings then name it as the issuer, and
the citizen page's client is registered with it. Production refuses it outright: it lets anyone sign
in as anyone, so a production gateway must never serve it, whatever else is misconfigured.
"""

import logging
from pathlib import Path

from fastapi import FastAPI

from connectors.samples.data import sample_subjects
from console.citizen.app import CALLBACK_PATH
from exchange.transparency.settings import TransparencySettings, secure_url
from shuyuan.dev_idp.provider import DevProvider, DevSubject, create_dev_provider, load_or_create_key

log = logging.getLogger(__name__)
MOUNT_PATH = "/dev-idp"
CLIENT_ID = "shuyuan-citizen-dev"  # the citizen page's client id at the development provider


class DevProviderRefused(RuntimeError):
    """The development provider was asked for outside development and test."""


def wanted(environment: str, transparency: TransparencySettings, base_url: str) -> bool:
    """Whether create_app mounts the development provider.

    Not on a plain-http base URL off the loopback interface (`make run HOST=192.0.2.7`): the gateway
    fetches a provider's keys over TLS or loopback only, so citizens' sign-in stays off there.
    """
    if environment not in ("development", "test") or transparency.oidc_issuer is not None:
        return False
    if not secure_url(base_url):
        log.warning("no development identity provider on %s (needs https or loopback)", base_url)
        return False
    return True


def sample_choices() -> tuple[DevSubject, ...]:
    """The subjects offered on the form: the demo person and enterprise, and a few others."""
    s = sample_subjects()
    return (
        DevSubject("示例居民（演示查询的主体） · the demo person", "person", s.demo_person),
        DevSubject("另一位居民 · another person", "person", s.person_only_in_psb),
        DevSubject("公租房申请人（场景 C） · the housing applicant of C", "person", s.contested_owner),
        DevSubject("个体工商户经营者（场景 A） · the sole trader of A", "person", s.sole_trader),
        DevSubject("新生儿的母亲（场景 B） · the newborn's mother of B", "person", s.newborn_mother),
        DevSubject("示例企业 · the demo enterprise", "enterprise", s.demo_enterprise),
    )


def install_dev_provider(
    app: FastAPI,
    *,
    environment: str,
    base_url: str,
    transparency: TransparencySettings,
    key_file: Path | None = None,
) -> TransparencySettings:
    """Mount the provider at /dev-idp of `app`; the transparency settings that trust it."""
    if environment not in ("development", "test"):
        raise DevProviderRefused(f"the development identity provider is never mounted in {environment}")
    issuer = base_url.rstrip("/") + MOUNT_PATH
    provider = DevProvider(
        issuer=issuer,
        key=load_or_create_key(key_file),
        clients={CLIENT_ID: (base_url.rstrip("/") + CALLBACK_PATH,)},
        subjects=sample_choices(),
        person_claim=transparency.person_claim,
        enterprise_claim=transparency.enterprise_claim,
    )
    app.mount(MOUNT_PATH, create_dev_provider(provider))
    # Built anew (not model_copy) so that the settings' own checks run on the result.
    fields = transparency.model_dump() | {"oidc_issuer": issuer, "oidc_audience": CLIENT_ID}
    return TransparencySettings.model_validate(fields)

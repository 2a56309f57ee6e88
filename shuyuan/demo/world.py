"""What the demo talks to: a running exchange at a URL, as the sample departments' own systems.

Each department acts with its sample system's key file and its department keys under the data folder
(`var/` of `make run`, or `sample load`'s), exactly as a real department system would: tokens by
private_key_jwt, answers decrypted and verified by the SDK, events opened against the pinned gateway keys.
"""

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from connectors import keys as department_keys
from connectors.client import ConsumerClient, GatewayError, QueryAnswer
from connectors.client_auth import TokenAuth, TokenSource, read_key_file
from connectors.event_pull import EventPuller
from connectors.events import EventClient, ReceivedEvent
from connectors.key_directory import load_gateway_keys
from connectors.samples.data import SampleSubjects, sample_subjects
from shuyuan import sample_systems

CASEWORKER = "demo.caseworker"


@dataclass
class DemoWorld:
    """The sample departments' systems against one exchange."""

    base_url: str
    data_dir: Path
    subjects: SampleSubjects = field(default_factory=sample_subjects)
    _http: httpx.Client | None = None
    _auth: dict[str, TokenAuth] = field(default_factory=dict)

    @property
    def http(self) -> httpx.Client:
        """One HTTP client for every department (each request carries its own token)."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.base_url, timeout=30)
        return self._http

    def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            self._http.close()

    def auth(self, dept: str) -> TokenAuth:
        """The department's sample system's token source (its key file)."""
        if dept not in self._auth:
            client_id = next(c for c, code, _, _ in sample_systems.SYSTEMS if code == dept)
            key_file = sample_systems.key_path(self.data_dir, client_id)
            source = TokenSource(
                base_url=self.base_url, client_id=client_id, private_jwk=read_key_file(key_file)
            )
            self._auth[dept] = TokenAuth(source)
        return self._auth[dept]

    def consumer(self, dept: str) -> ConsumerClient:
        """The department's consumer SDK."""
        keys = department_keys.load(department_keys.default_dir(self.data_dir, dept), dept)
        return ConsumerClient(self.http, keys=keys, auth=self.auth(dept))

    def events(self, dept: str) -> EventClient:
        """The department's events SDK, pinning the gateway's signing keys (they vouch for recalls)."""
        keys = department_keys.load(department_keys.default_dir(self.data_dir, dept), dept)
        pinned = load_gateway_keys(self.data_dir / "keys" / "gateway" / "request-jwks.json")
        return EventClient(self.http, keys=keys, auth=self.auth(dept), gateway_keys=pinned)

    def pull(self, dept: str) -> list[ReceivedEvent]:
        """Every event waiting for the department, handled (kept in the returned list) and acknowledged."""
        received: list[ReceivedEvent] = []
        EventPuller(self.events(dept), received.append).pull_once()
        return received

    def ask(
        self, dept: str, subject: tuple[str, str], elements: list[str], item: str
    ) -> QueryAnswer | GatewayError:
        """One query as the department, for a service item (a fresh case number and query id)."""
        subject_type, subject_id = subject
        try:
            return self.consumer(
                dept
            ).query(
                subject_type=subject_type,  # type: ignore[arg-type]
                subject_id=subject_id,
                elements=elements,
                service_item=item,
                case_no=f"DEMO-{uuid.uuid4().hex[:10]}",
                on_behalf_of=CASEWORKER,
            )
        except GatewayError as exc:
            return exc

    def call(self, dept: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A raw API call as the department's system."""
        return self.http.request(method, path, auth=self.auth(dept), **kwargs)

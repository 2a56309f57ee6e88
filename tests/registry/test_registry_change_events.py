"""Change events: committed writes announces {type, entity, code, version, at}; failed ones nothing."""

from fastapi.testclient import TestClient

from registry.events import RegistryChanges, RegistryEvent
from tests.registrykit import STEWARD


def test_committed_writes_announce_their_events_in_order(
    api_events: tuple[TestClient, list[RegistryEvent]],
) -> None:
    api, seen = api_events
    assert (
        api.patch("/v1/elements/person.name", json={"definition": "姓名"}, headers=STEWARD).status_code == 200
    )
    claim = api.post(
        "/v1/elements/person.name/claims", json={"department": "hrss", "reason": "x"}, headers=STEWARD
    )
    assert claim.status_code == 202
    assert [(e.type, e.entity, e.code, e.version) for e in seen] == [
        ("element.updated", "element", "person.name", 2),
        ("dispute.opened", "dispute", "person.name", 2),
    ]
    assert all(e.at.tzinfo is not None for e in seen)


def test_a_refused_write_announces_nothing(api_events: tuple[TestClient, list[RegistryEvent]]) -> None:
    api, seen = api_events
    assert api.patch("/v1/elements/person.name", json={"definition": "x"}).status_code == 403
    body = {
        "code": "person.name",
        "name_zh": "姓名",
        "name_en": "Name",
        "subject_type": "person",
        "source": "psb",
    }
    assert api.post("/v1/elements", json=body, headers=STEWARD).status_code == 409
    assert api.get("/v1/elements").status_code == 200
    assert seen == []


def test_a_write_without_specific_events_still_announces_a_change() -> None:
    changes = RegistryChanges()
    calls: list[str] = []
    got: list[list[RegistryEvent]] = []
    changes.subscribe(lambda: calls.append("cache"))
    changes.subscribe_events(lambda events: got.append(list(events)))
    changes.changed()
    assert calls == ["cache"] and [e.type for e in got[0]] == ["registry.changed"]
    changes.changed_elsewhere()  # from another process: refresh caches, publish nothing again
    assert calls == ["cache", "cache"] and len(got) == 1

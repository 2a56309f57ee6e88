"""The connector runtime on the sample departments' own databases, and its configuration files."""

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import OKPKey
from pydantic import ValidationError

from connectors import keys as department_keys
from connectors.config import load_config
from connectors.keys import DepartmentKeys
from connectors.runtime import Connector
from connectors.samples.data import SampleSubjects, generate
from protocol.clock import utcnow
from protocol.envelope import SourceReply, SourceRequest
from protocol.jose import open_answer, seal_subject
from protocol.signed_messages import sign_request
from shuyuan.embedded import SAMPLE_DEPARTMENTS, sample_connector_configs
from tests.sourcekit import reply_of

GATEWAY = OKPKey.generate_key("Ed25519")  # the gateway's request key these connectors pin
GATEWAY_KID = "gw-test"

PSB_COLUMNS = {
    "person.name": "name",
    "person.gender": "gender",
    "person.birth_date": "birth_date",
    "person.ethnicity": "ethnicity",
    "person.registered_address": "registered_address",
}
HRSS_COLUMNS = {
    "person.si_status": "insurance_status",
    "person.si_contribution_base": "contribution_base",
    "person.si_months_paid": "months_paid",
    "person.employer_name": "employer_name",
}
AMR_COLUMNS = {
    "enterprise.name": "name",
    "enterprise.legal_representative": "legal_representative",
    "enterprise.type": "enterprise_type",
    "enterprise.registered_capital": "registered_capital",
    "enterprise.established_on": "established_on",
    "enterprise.business_scope": "business_scope",
    "enterprise.address": "address",
    "enterprise.status": "status",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample departments' registers (read only by these tests)."""
    return tmp_path_factory.mktemp("departments")


@pytest.fixture(scope="module")
def subjects(data_dir: Path) -> SampleSubjects:
    """The demo subjects of the generated registers."""
    return generate(data_dir)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DepartmentKeys]:
    """Private keys of the sample sources and of the asking department (zjj)."""
    folder = tmp_path_factory.mktemp("keys")
    return {d: department_keys.ensure(folder / d, d)[0] for d in (*SAMPLE_DEPARTMENTS, "zjj")}


@pytest.fixture(scope="module")
def connectors(
    data_dir: Path, subjects: SampleSubjects, keys: dict[str, DepartmentKeys]
) -> Iterator[dict[str, Connector]]:
    """A connector per sample department, configured from its YAML file."""
    built = {
        d: Connector(
            load_config(p, base_dir=data_dir),
            keys[d],
            gateway_keys={GATEWAY_KID: GATEWAY},
            consumer_keys=_consumer_key,
        )
        for d, p in sample_connector_configs().items()
    }
    _KEYS.update(keys)
    yield built
    for connector in built.values():
        connector.close()


def _row(data_dir: Path, dept: str, table: str, key_column: str, key: str) -> sqlite3.Row:
    conn = sqlite3.connect(data_dir / f"{dept}.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(f"SELECT * FROM {table} WHERE {key_column} = ?", (key,)).fetchone()
    finally:
        conn.close()
    assert row is not None
    return row


_KEYS: dict[str, DepartmentKeys] = {}  # filled by the `connectors` fixture


def _request(
    source: str, subject_id: str, elements: list[str], *, subject_type: str = "person"
) -> SourceRequest:
    """A request as the gateway builds it: the subject sealed to the source, zjj's key to answer to."""
    source_keys, zjj = _KEYS[source], _KEYS["zjj"]
    enc_kid = next(iter(source_keys.encryption))
    zjj_kid = next(iter(zjj.encryption))
    return SourceRequest(
        query_id="q-runtime-0001",
        consumer="zjj",
        source=source,
        subject_type=subject_type,  # type: ignore[arg-type]
        subject_jwe=seal_subject(
            subject_type=subject_type,
            subject_id=subject_id,
            query_id="q-runtime-0001",
            recipient=source_keys.encryption[enc_kid],
            kid=enc_kid,
        ),
        consumer_kid=zjj_kid,
        elements=elements,
        service_item="330100-GZF-001",
        case_no="CASE-1",
        expires_at=utcnow() + timedelta(seconds=30),
    )


def _consumer_key(department: str, kid: str) -> Any:
    keys = _KEYS.get(department)
    return None if keys is None else keys.encryption.get(kid)


def _handle(connector: Connector, request: SourceRequest) -> SourceReply:
    """Send a request signed as the gateway; the connector's signed reply, opened."""
    data = connector.handle(sign_request(request, key=GATEWAY, kid=GATEWAY_KID))
    assert data is not None, "the connector refused the request unanswered"
    return reply_of(data)


def _value(reply: Any, answer: Any) -> Any:
    """Decrypt an answer as zjj and verify it with the answering source's signing key."""
    if answer.jws_jwe is None:
        return None
    claims, _ = open_answer(
        answer.jws_jwe, keys=_KEYS["zjj"].encryption, resolve=_KEYS[reply.source].signing.get
    )
    assert (claims["element"], claims["iss"], claims["aud"]) == (answer.code, reply.source, "zjj")
    return claims["value"]


def _answers(reply: Any) -> list[tuple[str, str, Any, str | None]]:
    return [(a.code, a.status, _value(reply, a), a.reason) for a in reply.answers]


def test_psb_answers_from_the_household_register(
    connectors: dict[str, Connector], subjects: SampleSubjects, data_dir: Path
) -> None:
    request = _request("psb", subjects.demo_person, list(PSB_COLUMNS))
    reply = _handle(connectors["psb"], request)
    assert reply.correlation_id == request.message_id
    assert reply.source == "psb"
    row = _row(data_dir, "psb", "hukou_person", "resident_id", subjects.demo_person)
    assert _answers(reply) == [(code, "ok", row[column], None) for code, column in PSB_COLUMNS.items()]


def test_psb_answers_the_whole_household_as_json(
    connectors: dict[str, Connector], subjects: SampleSubjects, data_dir: Path
) -> None:
    reply = _handle(connectors["psb"], _request("psb", subjects.demo_person, ["person.household_members"]))
    [answer] = reply.answers
    household = _row(data_dir, "psb", "hukou_person", "resident_id", subjects.demo_person)["household_no"]
    conn = sqlite3.connect(data_dir / "psb.sqlite")
    try:
        members = conn.execute(
            "SELECT name, relation_to_head, birth_date FROM hukou_person "
            "WHERE household_no = ? ORDER BY rowid",
            (household,),
        ).fetchall()
    finally:
        conn.close()
    assert answer.status == "ok"
    value = _value(reply, answer)
    assert value == [{"name": n, "relation": r, "birth_date": b} for n, r, b in members]
    assert value[0]["relation"] == "户主"


def test_hrss_answers_with_typed_values(
    connectors: dict[str, Connector], subjects: SampleSubjects, data_dir: Path
) -> None:
    reply = _handle(connectors["hrss"], _request("hrss", subjects.demo_person, list(HRSS_COLUMNS)))
    row = _row(data_dir, "hrss", "si_insured", "resident_id", subjects.demo_person)
    assert _answers(reply) == [(code, "ok", row[column], None) for code, column in HRSS_COLUMNS.items()]
    values = {a.code: _value(reply, a) for a in reply.answers}
    assert isinstance(values["person.si_contribution_base"], float)
    assert isinstance(values["person.si_months_paid"], int)


def test_amr_answers_for_an_enterprise(
    connectors: dict[str, Connector], subjects: SampleSubjects, data_dir: Path
) -> None:
    request = _request("amr", subjects.demo_enterprise, list(AMR_COLUMNS), subject_type="enterprise")
    reply = _handle(connectors["amr"], request)
    row = _row(data_dir, "amr", "business_licence", "uscc", subjects.demo_enterprise)
    assert _answers(reply) == [(code, "ok", row[column], None) for code, column in AMR_COLUMNS.items()]


def test_an_unknown_subject_is_not_found(connectors: dict[str, Connector], subjects: SampleSubjects) -> None:
    for dept, codes in (("psb", [*PSB_COLUMNS, "person.household_members"]), ("hrss", list(HRSS_COLUMNS))):
        reply = _handle(connectors[dept], _request(dept, subjects.unknown_person, codes))
        assert _answers(reply) == [(code, "not_found", None, "not_found") for code in codes]


def test_a_person_only_psb_knows_is_not_found_at_hrss(
    connectors: dict[str, Connector], subjects: SampleSubjects
) -> None:
    subject = subjects.person_only_in_psb
    assert _handle(connectors["psb"], _request("psb", subject, ["person.name"])).answers[0].status == "ok"
    assert (
        _handle(connectors["hrss"], _request("hrss", subject, ["person.si_status"])).answers[0].status
        == "not_found"
    )


def test_a_request_for_another_department_is_refused_without_reading(
    connectors: dict[str, Connector], subjects: SampleSubjects
) -> None:
    request = _request("hrss", subjects.demo_person, ["person.name", "person.si_status"])
    handled = connectors["psb"].answer(sign_request(request, key=GATEWAY, kid=GATEWAY_KID))
    assert (handled.reply, handled.problem) == (None, "wrong_recipient")


def test_a_request_for_the_wrong_subject_type_is_refused(
    connectors: dict[str, Connector], subjects: SampleSubjects
) -> None:
    reply = _handle(connectors["amr"], _request("amr", subjects.demo_enterprise, ["enterprise.name"]))
    assert _answers(reply) == [("enterprise.name", "failed", None, "invalid_request")]
    reply = _handle(
        connectors["psb"],
        _request("psb", subjects.demo_enterprise, ["person.name"], subject_type="enterprise"),
    )
    assert _answers(reply) == [("person.name", "failed", None, "invalid_request")]


def test_an_element_the_connector_does_not_serve_fails_alone(
    connectors: dict[str, Connector], subjects: SampleSubjects
) -> None:
    reply = _handle(
        connectors["psb"], _request("psb", subjects.demo_person, ["person.si_status", "person.name"])
    )
    assert [(a.code, a.status, a.reason) for a in reply.answers] == [
        ("person.si_status", "failed", "unknown_element"),
        ("person.name", "ok", None),
    ]


@pytest.mark.parametrize(
    "subject_id",
    [
        "' OR '1'='1",
        "x' UNION SELECT name FROM hukou_person --",
        "1; DROP TABLE hukou_person; --",
        '" OR ""="',
        "%",
        "\x00",
    ],
)
def test_injection_strings_as_subject_id_are_bound_parameters(
    connectors: dict[str, Connector], data_dir: Path, subjects: SampleSubjects, subject_id: str
) -> None:
    codes = ["person.name", "person.household_members"]
    reply = _handle(connectors["psb"], _request("psb", subject_id, codes))
    assert _answers(reply) == [(code, "not_found", None, "not_found") for code in codes]
    conn = sqlite3.connect(data_dir / "psb.sqlite")
    try:
        assert conn.execute("SELECT COUNT(*) FROM hukou_person").fetchone()[0] == len(subjects.all_persons)
    finally:
        conn.close()


# --- configuration files -----------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


CONFIG = """
department: psb
database_url: "{url}"
subject_type: person
elements:
  person.name:
    sql: SELECT name FROM hukou_person WHERE resident_id = :subject_id
"""


def test_a_relative_sqlite_path_resolves_against_the_files_folder(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path / "psb.yaml", CONFIG.format(url="sqlite:///data/psb.sqlite")))
    assert config.database_url == f"sqlite:///{(tmp_path / 'data' / 'psb.sqlite').resolve()}"


def test_a_relative_sqlite_path_resolves_against_base_dir_when_given(tmp_path: Path) -> None:
    path = _write(tmp_path / "psb.yaml", CONFIG.format(url="sqlite:///psb.sqlite"))
    config = load_config(path, base_dir=tmp_path / "elsewhere")
    assert config.database_url == f"sqlite:///{(tmp_path / 'elsewhere' / 'psb.sqlite').resolve()}"


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/psb/psb.sqlite", "sqlite:///:memory:", "postgresql+psycopg://psb@db/psb"],
    ids=["absolute", "memory", "not sqlite"],
)
def test_other_urls_are_left_alone(tmp_path: Path, url: str) -> None:
    assert load_config(_write(tmp_path / "psb.yaml", CONFIG.format(url=url))).database_url == url


def test_the_sample_configs_load_and_match_the_registry(data_dir: Path) -> None:
    from shuyuan.sample_catalogue import ELEMENTS

    sources = {e.code: e.source for e in ELEMENTS}
    for dept, path in sample_connector_configs().items():
        config = load_config(path, base_dir=data_dir)
        assert config.department == dept
        assert config.database_url == f"sqlite:///{(data_dir / f'{dept}.sqlite').resolve()}"
        # A connector serves only elements its department is the registered source of.
        assert {sources[code] for code in config.elements} == {dept}


@pytest.mark.parametrize(
    "text,loc",
    [
        (CONFIG.format(url="sqlite:///x.sqlite") + "password: hunter2\n", ("password",)),
        (
            CONFIG.format(url="sqlite:///x.sqlite").replace("    sql:", "    cache: true\n    sql:"),
            ("elements", "person.name", "cache"),
        ),
        (CONFIG.format(url="sqlite:///x.sqlite") + "kafka:\n  brokers: a:9092\n", ("kafka", "brokers")),
        (
            CONFIG.format(url="sqlite:///x.sqlite").replace("department: psb", "department: PSB"),
            ("department",),
        ),
        (
            CONFIG.format(url="sqlite:///x.sqlite").replace("subject_type: person", "subject_type: cat"),
            ("subject_type",),
        ),
        (
            CONFIG.format(url="sqlite:///x.sqlite").replace("    sql:", "    value_type: blob\n    sql:"),
            ("elements", "person.name", "value_type"),
        ),
        ("department: psb\ndatabase_url: sqlite:///x.sqlite\n", ("elements",)),
    ],
    ids=[
        "unknown key",
        "unknown element key",
        "unknown kafka key",
        "bad code",
        "bad subject type",
        "bad type",
        "no elements",
    ],
)
def test_bad_configs_are_refused(tmp_path: Path, text: str, loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as excinfo:
        load_config(_write(tmp_path / "bad.yaml", text))
    assert loc in [tuple(str(part) for part in error["loc"]) for error in excinfo.value.errors()]


def test_the_kafka_section_has_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path / "psb.yaml", CONFIG.format(url="sqlite:///x.sqlite")))
    assert config.kafka.bootstrap == "127.0.0.1:9092"
    assert config.kafka.group_id is None


def test_a_value_that_breaks_its_registered_schema_is_not_signed(
    connectors: dict[str, Connector], subjects: SampleSubjects, data_dir: Path
) -> None:
    request = _request("hrss", subjects.demo_person, ["person.si_contribution_base", "person.si_months_paid"])
    request.value_schemas = {
        "person.si_contribution_base": {"type": "number", "maximum": 1},  # every real base breaks it
        "person.si_months_paid": {"type": "integer", "minimum": 0},
    }
    reply = _handle(connectors["hrss"], request)
    row = _row(data_dir, "hrss", "si_insured", "resident_id", subjects.demo_person)
    assert _answers(reply) == [
        ("person.si_contribution_base", "failed", None, "source_unavailable"),
        ("person.si_months_paid", "ok", row["months_paid"], None),
    ]


def test_the_sample_schemas_accept_the_sample_values(
    connectors: dict[str, Connector], subjects: SampleSubjects
) -> None:
    from shuyuan.sample_catalogue import VALUE_SCHEMAS

    # A subject each source holds a value of every element for (docs/sample-data.md).
    for dept, subject_type, subject in (
        ("psb", "person", subjects.demo_person),
        ("hrss", "person", subjects.demo_person),
        ("amr", "enterprise", subjects.demo_enterprise),
        ("bdc", "person", subjects.sole_trader),
        ("court", "person", subjects.dishonest_person),
        ("court", "enterprise", subjects.dishonest_enterprise),
        ("mzj", "person", subjects.newborn_father),
        ("wjw", "person", subjects.newborn),
        ("ybj", "person", subjects.newborn),
    ):
        codes = [
            c
            for c in VALUE_SCHEMAS
            if connectors[dept].adapter.codes() >= {c} and c.startswith(f"{subject_type}.")
        ]
        request = _request(dept, subject, codes, subject_type=subject_type)
        request.value_schemas = {c: VALUE_SCHEMAS[c] for c in codes}
        reply = _handle(connectors[dept], request)
        assert codes and all(a.status == "ok" for a in reply.answers), _answers(reply)


def test_an_unusable_schema_refuses_rather_than_lets_a_value_through(
    connectors: dict[str, Connector], subjects: SampleSubjects
) -> None:
    request = _request("psb", subjects.demo_person, ["person.name"])
    request.value_schemas = {"person.name": {"type": "no-such-type"}}
    reply = _handle(connectors["psb"], request)
    assert [(a.status, a.jws_jwe) for a in reply.answers] == [("failed", None)]

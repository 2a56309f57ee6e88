"""The SQL adapter: one bound, parameterised SELECT per element, typed values, per-element failures."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.adapters.sql import SqlAdapter
from connectors.config import ElementQuery


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A small department register with one well-formed and one damaged record."""
    path = tmp_path / "dept.sqlite"
    conn = sqlite3.connect(path)
    with conn:
        conn.executescript(
            """
            CREATE TABLE register (id TEXT PRIMARY KEY, name TEXT, base NUMERIC, months INTEGER,
                                   active INTEGER, born TEXT, extra TEXT, count_text TEXT);
            INSERT INTO register VALUES ('A1', '张三', '8123.45', 70, 1, '1988-04-19',
                                         '{"cars": ["浙A12345"], "pets": 0}', '12');
            INSERT INTO register VALUES ('B2', '李四', 5000, 12, 0, '1990-01-01', '{broken', 'twelve');
            INSERT INTO register VALUES ('C3', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
            """
        )
    conn.close()
    return path


def _q(column: str, value_type: str = "string") -> ElementQuery:
    return ElementQuery(sql=f"SELECT {column} FROM register WHERE id = :subject_id", value_type=value_type)  # type: ignore[arg-type]


QUERIES = {
    "person.name": _q("name"),
    "person.base": _q("base", "number"),
    "person.months": _q("months", "integer"),
    "person.active": _q("active", "boolean"),
    "person.born": _q("born", "date"),
    "person.extra": _q("extra", "json"),
    "person.count": _q("count_text", "integer"),
    "person.broken": ElementQuery(sql="SELECT nope FROM no_such_table WHERE id = :subject_id"),
}


@pytest.fixture
def adapter(database: Path) -> Iterator[SqlAdapter]:
    """An adapter over the small register."""
    adapter = SqlAdapter(f"sqlite:///{database}", QUERIES)
    yield adapter
    adapter.close()


def _one(adapter: SqlAdapter, subject: str, code: str) -> tuple[str, object, str | None]:
    [answer] = adapter.lookup(subject, [code])
    assert answer.code == code
    return answer.status, answer.value, answer.reason


def test_codes(adapter: SqlAdapter) -> None:
    assert adapter.codes() == frozenset(QUERIES)


@pytest.mark.parametrize(
    "code,value",
    [
        ("person.name", "张三"),
        ("person.base", 8123.45),
        ("person.months", 70),
        ("person.active", True),
        ("person.born", "1988-04-19"),
        ("person.extra", {"cars": ["浙A12345"], "pets": 0}),
        ("person.count", 12),
    ],
)
def test_values_are_decoded_as_their_declared_type(adapter: SqlAdapter, code: str, value: object) -> None:
    status, got, reason = _one(adapter, "A1", code)
    assert (status, got, reason) == ("ok", value, None)
    assert type(got) is type(value)


def test_a_whole_number_declared_as_number_is_a_float(adapter: SqlAdapter) -> None:
    assert _one(adapter, "B2", "person.base") == ("ok", 5000.0, None)
    assert _one(adapter, "B2", "person.active") == ("ok", False, None)


def test_null_is_not_found(adapter: SqlAdapter) -> None:
    for code in ("person.name", "person.base", "person.extra"):
        assert _one(adapter, "C3", code) == ("not_found", None, "not_found")


def test_an_unknown_subject_is_not_found(adapter: SqlAdapter) -> None:
    answers = adapter.lookup("Z9", ["person.name", "person.extra"])
    assert [(a.status, a.reason) for a in answers] == [("not_found", "not_found")] * 2


def test_a_failing_query_fails_its_element_only(adapter: SqlAdapter) -> None:
    answers = adapter.lookup("A1", ["person.name", "person.broken", "person.months"])
    assert [(a.code, a.status, a.value, a.reason) for a in answers] == [
        ("person.name", "ok", "张三", None),
        ("person.broken", "failed", None, "source_unavailable"),
        ("person.months", "ok", 70, None),
    ]


@pytest.mark.parametrize("code", ["person.extra", "person.count"], ids=["bad json", "not an integer"])
def test_a_value_that_does_not_decode_fails_its_element_only(adapter: SqlAdapter, code: str) -> None:
    answers = adapter.lookup("B2", ["person.name", code, "person.months"])
    assert [(a.code, a.status, a.reason) for a in answers] == [
        ("person.name", "ok", None),
        (code, "failed", "source_unavailable"),
        ("person.months", "ok", None),
    ]


def test_an_element_without_a_query_is_failed_unknown_element(adapter: SqlAdapter) -> None:
    assert _one(adapter, "A1", "person.shoe_size") == ("failed", None, "unknown_element")


@pytest.mark.parametrize(
    "subject_id",
    ["' OR '1'='1", "A1' --", "A1'; DELETE FROM register; --", "%", "A_"],
)
def test_the_subject_id_is_a_bound_parameter(adapter: SqlAdapter, database: Path, subject_id: str) -> None:
    answers = adapter.lookup(subject_id, ["person.name", "person.extra"])
    assert [(a.status, a.reason) for a in answers] == [("not_found", "not_found")] * 2
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("SELECT COUNT(*) FROM register").fetchone()[0] == 3
    finally:
        conn.close()


def test_answers_keep_the_order_asked(adapter: SqlAdapter) -> None:
    codes = ["person.months", "person.shoe_size", "person.name", "person.base"]
    assert [a.code for a in adapter.lookup("A1", codes)] == codes


def test_nothing_asked_nothing_answered(adapter: SqlAdapter) -> None:
    assert adapter.lookup("A1", []) == []

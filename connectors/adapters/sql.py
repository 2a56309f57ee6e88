"""Answers elements from the department's own SQL database: one parameterised query per element."""

import json
import logging
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import QueuePool

from connectors.adapters.base import Lookup
from connectors.config import ElementQuery

log = logging.getLogger(__name__)


class SqlAdapter:
    """Maps element codes to parameterised SELECTs; the subject id is always a bound parameter."""

    def __init__(self, database_url: str, queries: Mapping[str, ElementQuery]) -> None:
        kwargs: dict[str, Any] = {"poolclass": QueuePool, "pool_size": 4}
        if database_url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False}
        self._engine = create_engine(database_url, **kwargs)
        self._queries = {code: (text(q.sql), q.value_type) for code, q in queries.items()}

    def codes(self) -> frozenset[str]:
        """The elements this adapter can answer."""
        return frozenset(self._queries)

    def lookup(self, subject_id: str, codes: list[str]) -> list[Lookup]:
        """Read each element for the subject; not_found where the department holds no record."""
        answers = []
        with self._engine.connect() as conn:
            for code in codes:
                query = self._queries.get(code)
                if query is None:
                    answers.append(Lookup(code=code, status="failed", reason="unknown_element"))
                    continue
                stmt, value_type = query
                try:
                    row = conn.execute(stmt, {"subject_id": subject_id}).first()
                except Exception:
                    log.exception("query for %s failed", code)
                    answers.append(Lookup(code=code, status="failed", reason="source_unavailable"))
                    continue
                if row is None or row[0] is None:
                    answers.append(Lookup(code=code, status="not_found", reason="not_found"))
                    continue
                try:
                    value = _typed(row[0], value_type)
                except (TypeError, ValueError):
                    # A stored value that does not decode as its declared type fails this element only;
                    # raising would lose the whole reply (and make a Kafka batch rewind for ever).
                    log.warning("value of %s does not decode as %s", code, value_type)  # never the value
                    answers.append(Lookup(code=code, status="failed", reason="source_unavailable"))
                    continue
                answers.append(Lookup(code=code, status="ok", value=value))
        return answers

    def close(self) -> None:
        """Release the pool."""
        self._engine.dispose()


def _typed(raw: Any, value_type: str) -> Any:
    if value_type == "json":
        return json.loads(raw) if isinstance(raw, str) else raw
    if value_type == "number":
        return float(raw) if isinstance(raw, Decimal | int | float | str) else raw
    if value_type == "integer":
        return int(raw)
    if value_type == "boolean":
        return bool(raw)
    if value_type == "date" and isinstance(raw, date | datetime):
        return raw.isoformat()
    return str(raw) if not isinstance(raw, str) else raw

"""The dispute flag on a query's results (异议标注): set by the gateway, outside the signed values.

While a correction of an element about a subject is open, every answer of that element about that
subject carries `disputed: true` and the correction's id, for every consumer. It is decided for each
response from the open corrections as they stand (exchange/corrections/disputes.py), after the answer
was stored, digested and audited: the source's JWS is untouched, the stored answer holds no flag, and
a replay of a query_id gets the flag as it stands at the replay.
"""

from collections.abc import Sequence
from typing import Protocol

from exchange.queries.models import QueryOut

# Results that are the source's answer about the subject, and so what an open correction disputes.
ANSWERED = frozenset({"ok", "not_found"})


class Disputes(Protocol):
    """The open corrections' lookup, as the query flow needs it."""

    async def open_for(self, subject_index: str, elements: Sequence[str]) -> dict[str, str]:
        """Element code -> id of its open correction about this subject."""
        ...


async def flagged(out: QueryOut, disputes: Disputes | None, subject_index: str) -> QueryOut:
    """The response with each answered element that an open correction disputes marked."""
    if disputes is None:
        return out
    answered = [r.code for r in out.results if r.status in ANSWERED]
    open_ = await disputes.open_for(subject_index, answered) if answered else {}
    if not open_:
        return out
    results = [
        r.model_copy(update={"disputed": True, "correction_id": open_[r.code]})
        if r.status in ANSWERED and r.code in open_
        else r
        for r in out.results
    ]
    return out.model_copy(update={"results": results})

"""The one state machine of a correction: which move is allowed from which state, and for whom.

reported -> accepted -> in_progress -> fixed | rejected, from any open state: wrong_source (the source
says the data is not its own), withdrawn (by the filer), and a steward's forward to another source
(state back to `reported`, deadlines counted afresh). Everything else is `409 invalid_transition`.
Local data-quality rules (异议标注) flag a value as disputed while its correction is open: OPEN.
"""

from typing import Literal, get_args

from registry.errors import Forbidden, InvalidTransition

State = Literal["reported", "accepted", "in_progress", "fixed", "rejected", "wrong_source", "withdrawn"]
Role = Literal["filer", "source", "steward"]
STATES: tuple[State, ...] = get_args(State)
OPEN: frozenset[State] = frozenset({"reported", "accepted", "in_progress", "wrong_source"})
CLOSED: frozenset[State] = frozenset(STATES) - OPEN
# States before the source took it up: the take-up deadline applies only while it is here.
NOT_TAKEN_UP: frozenset[State] = frozenset({"reported"})
# A reason is required for these moves: the filer (and the stewards) must learn why.
REASON_REQUIRED: frozenset[State] = frozenset({"rejected", "wrong_source"})

_SOURCE: frozenset[Role] = frozenset({"source"})
MOVES: dict[tuple[State, State], frozenset[Role]] = {
    ("reported", "accepted"): _SOURCE,
    ("accepted", "in_progress"): _SOURCE,
    **{(s, "fixed"): _SOURCE for s in ("accepted", "in_progress")},
    **{(s, "rejected"): _SOURCE for s in ("reported", "accepted", "in_progress")},
    **{(s, "wrong_source"): _SOURCE for s in ("reported", "accepted", "in_progress")},
    **{(s, "withdrawn"): frozenset({"filer"}) for s in OPEN},
    # The forward: only a steward re-routes a correction to another source (一数一源 is theirs to keep).
    **{(s, "reported"): frozenset({"steward"}) for s in OPEN},
}


def check_move(current: State, to: State, roles: frozenset[Role]) -> None:
    """Refuse a move the machine does not have (409) or one the caller's roles may not make (403)."""
    allowed = MOVES.get((current, to))
    if allowed is None:
        raise InvalidTransition(f"a correction cannot move from {current!r} to {to!r}")
    if not roles & allowed:
        who = " or ".join(sorted(allowed))
        raise Forbidden(f"moving a correction from {current!r} to {to!r} is for its {who}")

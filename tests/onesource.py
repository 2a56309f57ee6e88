"""The one-source property (一数一源), shared by the SQLite and PostgreSQL tests.

Random sequences of registry operations run through the services, each in its own savepoint of one
outer transaction (rolled back after the example, so examples do not see each other). After every
step, SQL checks that each element has exactly one existing source department, and that it is the
department the sequence of accepted operations implies.
"""

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session, select

from protocol.errors import ShuyuanError
from registry import flows
from registry.actors import Actor
from registry.departments.models import Department
from registry.disputes import service as disputes
from registry.disputes.models import SourceDispute
from registry.elements import service as elements
from registry.elements.models import DataElement, ElementCreate, StatusChange
from registry.handovers import service as handovers
from registry.handovers.models import SourceHandover
from registry.impact import service as impact

CODES = ("prop.e0", "prop.e1", "prop.e2", "prop.e3")
DEPTS = ("psb", "hrss", "amr", "xzsp", "zjj")
# Pairs 0/1 are near-duplicates of each other, so registrations also open near-duplicate disputes.
NAMES = (
    ("兵役状况", "Military service status"),
    ("兵役 状况", "Military-service status"),
    ("学历", "Education"),
    ("驾驶证号", "Licence no"),
)
STEWARD = Actor(name="prop-steward", steward=True)

code_i = st.integers(0, len(CODES) - 1)
dept_i = st.integers(0, len(DEPTS) - 1)
pick = st.integers(0, 5)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), code_i, dept_i, st.integers(0, len(NAMES) - 1)),
        st.tuples(st.just("claim"), code_i, dept_i),
        st.tuples(st.just("resolve"), pick, st.sampled_from(["keep", "handover", "merge", "distinct"])),
        st.tuples(st.just("propose"), code_i, dept_i),
        st.tuples(st.just("accept"), pick),
        st.tuples(st.just("reject"), pick),
        st.tuples(st.just("retire"), code_i),
    ),
    min_size=1,
    max_size=14,
)


def _dept(session: Session, code: str) -> Department:
    found = session.exec(select(Department).where(Department.code == code)).one()
    return found


def _nth(session: Session, model: type, k: int, *where: Any) -> Any:
    rows = list(session.exec(select(model).where(*where).order_by(model.id)))  # type: ignore[attr-defined]
    return rows[k % len(rows)] if rows else None


def _apply(session: Session, op: tuple[Any, ...]) -> dict[str, str]:
    """Run one operation; return the sources it changed (element code -> department code)."""
    kind = op[0]
    if kind == "create":
        zh, en = NAMES[op[3]]
        body = ElementCreate(
            code=CODES[op[1]], name_zh=zh, name_en=en, subject_type="person", source=DEPTS[op[2]]
        )
        outcome = flows.register(
            session=session, element_in=body, actor=Actor(name="clerk", department=DEPTS[op[2]])
        )
        return {outcome.code: DEPTS[op[2]]} if isinstance(outcome, DataElement) else {}
    if kind == "claim":
        element = elements.get_by_code_or_raise(session=session, code=CODES[op[1]])
        disputes.open_(
            session=session,
            element=element,
            claimant=_dept(session, DEPTS[op[2]]),
            actor=STEWARD,
            kind="claim",
        )
        return {}
    if kind == "resolve":
        dispute = _nth(session, SourceDispute, op[1], SourceDispute.status == "open")
        if dispute is None:
            return {}
        claimant = session.get(Department, dispute.claimant_department_id)
        target = session.get(DataElement, dispute.element_id)
        disputes.resolve(session=session, dispute=dispute, resolution=op[2], actor=STEWARD)
        if op[2] == "handover":
            return {target.code: claimant.code}  # type: ignore[union-attr]
        if op[2] == "distinct":
            return {dispute.proposal["code"]: claimant.code}  # type: ignore[index, union-attr]
        return {}
    if kind == "propose":
        element = elements.get_by_code_or_raise(session=session, code=CODES[op[1]])
        handovers.propose(session=session, element=element, to=DEPTS[op[2]], actor=STEWARD, reason="test")
        return {}
    if kind in ("accept", "reject"):
        handover = _nth(session, SourceHandover, op[1], SourceHandover.status == "proposed")
        if handover is None:
            return {}
        receiver = session.get(Department, handover.to_department_id)
        actor = Actor(name="clerk", department=receiver.code)  # type: ignore[union-attr]
        if kind == "reject":
            handovers.reject(session=session, handover=handover, actor=actor)
            return {}
        handovers.accept(session=session, handover=handover, actor=actor)
        element = session.get(DataElement, handover.element_id)
        return {element.code: receiver.code}  # type: ignore[union-attr]
    element = elements.get_by_code_or_raise(session=session, code=CODES[op[1]])
    token = impact.impact_of(session=session, element=element).token
    elements.change_status(
        session=session, element=element, change=StatusChange(status="retired", confirm=token), actor=STEWARD
    )
    return {}


def check_one_source(conn: Connection, expected: dict[str, str]) -> None:
    """Every element has exactly one existing source, and the sources are the expected ones."""
    assert (
        conn.execute(text("SELECT count(*) FROM data_element WHERE source_department_id IS NULL")).scalar()
        == 0
    )
    orphans = conn.execute(
        text(
            "SELECT count(*) FROM data_element e LEFT JOIN department d ON d.id = e.source_department_id"
            " WHERE d.id IS NULL"
        )
    ).scalar()
    assert orphans == 0
    twice = conn.execute(text("SELECT code FROM data_element GROUP BY code HAVING count(*) > 1")).all()
    assert twice == []
    actual = dict(
        conn.execute(
            text(
                "SELECT e.code, d.code FROM data_element e JOIN department d ON d.id = e.source_department_id"
                " WHERE e.code LIKE 'prop.%'"
            )
        ).all()
    )
    assert actual == expected


def run_sequence(
    engine: Engine, ops: list[tuple[Any, ...]], on_step: Callable[[], None] | None = None
) -> dict[str, str]:
    """Apply the operations one savepoint each, checking the invariant after every step; the final sources."""
    expected: dict[str, str] = {}
    with engine.connect() as conn:
        outer = conn.begin()
        # pysqlite opens the transaction only at the first write; start it now so the savepoints nest in it.
        conn.exec_driver_sql("UPDATE registry_alembic_version SET version_num = version_num WHERE 1 = 0")
        try:
            for op in ops:
                with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
                    try:
                        changed = _apply(session, op)
                        session.commit()
                    except ShuyuanError:
                        session.rollback()
                        changed = {}
                expected |= changed
                check_one_source(conn, expected)
                if on_step is not None:
                    on_step()
        finally:
            outer.rollback()
    return expected

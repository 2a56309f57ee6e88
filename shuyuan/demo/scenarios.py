"""SCENARIOS.md A and C as demo steps against a running exchange (B: newborn.py), and what the citizen sees.

The applicants are the sample's named subjects (connectors/samples/data.py, docs/sample-data.md): A's
sole trader owns the shop registered as premises and is not a dishonest debtor, another applicant is;
C's applicant is the contested owner, whose property record still lists a flat sold last year.

Every step is done through the SDK as the department's own system would do it, and checked: a release
must be verified, a denial must carry the reason the scenario tells, an event or a recall must reach
exactly the departments it should.
"""

from collections.abc import Callable
from typing import Any

from connectors.client import GatewayError, QueryAnswer
from connectors.events import ReceivedEvent
from protocol.recall import RECALL_TYPE
from shuyuan.demo.citizen import citizen_page
from shuyuan.demo.newborn import scenario_b
from shuyuan.demo.runner import Scenario, Step, expect
from shuyuan.demo.world import DemoWorld
from shuyuan.sample_catalogue import HOUSING_ITEM, LICENSE_ISSUED, SOLE_TRADER_ITEM

IDENTITY = ["person.name", "person.gender", "person.birth_date", "person.registered_address"]
# The proof of premises, now read from the real-estate registry (SCENARIOS.md A).
PREMISES = ["person.property_certificate_no", "person.property_address", "person.property_owner"]
DISHONEST = "person.dishonest_debtor"
INCOME = ["person.si_contribution_base", "person.si_months_paid"]
HOUSING = ["person.household_members", *INCOME, "person.property_records", "person.marital_status"]
# The value a caseworker contests in C, and its source (SCENARIOS.md C: the property record).
CONTESTED, CONTESTED_SOURCE = "person.property_records", "bdc"
NOT_NECESSARY = "not_necessary_for_purpose"


def _released(answer: QueryAnswer | GatewayError, wanted: list[str]) -> str:
    expect(isinstance(answer, QueryAnswer), f"refused: {getattr(answer, 'problem', answer)}")
    assert isinstance(answer, QueryAnswer)
    expect(answer.status == "complete", f"not every element was released: {answer.as_dict()['results']}")
    sources = sorted({r.source or "?" for r in answer.results})
    return (
        f"released and verified ({', '.join(wanted)}) from {', '.join(sources)}, "
        f"signed by each source and readable by the asking department only (query {answer.query_id})"
    )


def _denied(answer: QueryAnswer | GatewayError, reason: str) -> str:
    expect(isinstance(answer, QueryAnswer), f"refused outright: {getattr(answer, 'problem', answer)}")
    assert isinstance(answer, QueryAnswer)
    reasons = {r.code: r.reason for r in answer.results}
    expect(all(r == reason for r in reasons.values()), f"expected every element {reason}, got {reasons}")
    return f"denied, each element with reason {reason}; the denial is on the audit chain"


def _flag(world: DemoWorld, resident_id: str, expected: bool) -> str:
    answer = world.ask("xzsp", ("person", resident_id), [DISHONEST], SOLE_TRADER_ITEM)
    _released(answer, [DISHONEST])
    assert isinstance(answer, QueryAnswer)
    [result] = answer.results
    expect(result.value is expected, f"the court's list says {result.value!r}, expected {expected}")
    told = "on the list: the bureau applies 信用惩戒" if expected else "not on the list"
    return f"checked, not brought: {DISHONEST} = {str(expected).lower()} from {result.source} ({told})"


def scenario_a(world: DemoWorld) -> Scenario:
    """个体工商户设立登记: the approval bureau fetches instead of asking for papers, tells supervisors."""
    person = ("person", world.subjects.sole_trader)
    firm = world.subjects.demo_enterprise
    published: dict[str, Any] = {}

    def licence(kind: str, scope: str) -> Callable[[], str]:
        def step() -> str:
            payload = {
                "licence_no": f"JY{kind[:4].upper()}DEMO{len(published):04d}",
                "licence_type": kind,
                "enterprise_name": "演示个体工商户",
                "business_scope": scope,
                "issued_on": "2026-12-02",
            }
            read = world.events("xzsp").publish(
                type=LICENSE_ISSUED, subject_type="enterprise", subject_id=firm, payload=payload
            )
            published[kind] = read["event_id"]
            told = {d: [e.event_id for e in world.pull(d)] for d in ("amr", "fso")}
            expected = {"amr"} | ({"fso"} if "食品" in scope else set())
            got = {d for d, ids in told.items() if read["event_id"] in ids}
            expect(got == expected, f"told {sorted(got)}, expected {sorted(expected)}")
            told_to = ", ".join(sorted(got))
            return f"event {read['event_id']} told to {told_to} at once (双告知), each its own copy"

        return step

    return Scenario(
        "A",
        "个体工商户设立登记 (registering a sole proprietorship, 行政审批局)",
        [
            Step(
                "行政审批局 xzsp",
                "fetches the applicant's identity (the ID card copy) from 公安局 for 330100-GTH-001",
                lambda: _released(world.ask("xzsp", person, IDENTITY, SOLE_TRADER_ITEM), IDENTITY),
            ),
            Step(
                "行政审批局 xzsp",
                "fetches the proof of premises (经营场所使用证明) from 不动产登记中心",
                lambda: _released(world.ask("xzsp", person, PREMISES, SOLE_TRADER_ITEM), PREMISES),
            ),
            Step(
                "行政审批局 xzsp",
                "checks the applicant against the court's dishonest-debtor list",
                lambda: _flag(world, world.subjects.sole_trader, False),
            ),
            Step(
                "行政审批局 xzsp",
                "checks another applicant, who is on the list",
                lambda: _flag(world, world.subjects.dishonest_person, True),
            ),
            Step(
                "行政审批局 xzsp",
                "asks for the applicant's income proxies, which registration does not need",
                lambda: _denied(
                    world.ask("xzsp", person, INCOME, SOLE_TRADER_ITEM), "not_necessary_for_purpose"
                ),
            ),
            Step(
                "行政审批局 xzsp",
                "issues a food business licence and publishes license.issued",
                licence("food_business_licence", "食品销售;预包装食品"),
            ),
            Step(
                "行政审批局 xzsp",
                "issues a shop licence: the food-safety office is not told of it",
                licence("business_licence", "日用百货零售"),
            ),
        ],
    )


def scenario_c(world: DemoWorld) -> Scenario:
    """公租房申请: purpose-bound income proxies and property, then a contested record fixed and recalled."""
    person = ("person", world.subjects.contested_owner)
    state: dict[str, Any] = {"queries": []}

    def housing() -> str:
        answer = world.ask("zjj", person, HOUSING, HOUSING_ITEM)
        return _released(answer, HOUSING)

    def contest() -> str:
        first = world.ask("zjj", person, [CONTESTED], HOUSING_ITEM)
        expect(isinstance(first, QueryAnswer), f"the value to contest was not released: {first}")
        assert isinstance(first, QueryAnswer)
        state["queries"].append(first.query_id)
        response = world.call(
            "zjj",
            "POST",
            "/v1/corrections",
            json={
                "element": CONTESTED,
                "subject": {"type": "person", "id": world.subjects.contested_owner},
                "query_id": first.query_id,
                "problem": "申请人去年已出售该房产,登记记录未更新",
                "evidence_ref": "ZJJ-GZF-DEMO/附件2",
            },
        )
        expect(response.status_code == 201, f"the correction was not filed: {response.text[:300]}")
        state["correction"] = response.json()["id"]
        flagged = world.ask("zjj", person, [CONTESTED], HOUSING_ITEM)
        expect(isinstance(flagged, QueryAnswer), f"the value could not be asked again: {flagged}")
        assert isinstance(flagged, QueryAnswer)
        state["queries"].append(flagged.query_id)
        [result] = flagged.results
        expect(result.disputed and result.correction_id == state["correction"], "the answer is not flagged")
        return (
            f"correction {state['correction']} routed to {response.json()['source']}; every answer of "
            f"{CONTESTED} about this person now says disputed (异议标注)"
        )

    def fix() -> str:
        cid = state["correction"]
        for to in ("accepted", "fixed"):
            moved = world.call(
                CONTESTED_SOURCE,
                "POST",
                f"/v1/corrections/{cid}/transitions",
                json={"to": to, "reason": "已按登记档案更正"},
            )
            expect(moved.status_code == 200, f"{to}: {moved.text[:300]}")
        recalls: list[ReceivedEvent] = [e for e in world.pull("zjj") if e.type == RECALL_TYPE]
        mine = [e for e in recalls if e.payload.get("correction_id") == cid]
        expect(len(mine) == 1, f"zjj got {len(mine)} recall(s) of correction {cid}")
        told = set(mine[0].payload["query_ids"])
        expect(set(state["queries"]) <= told, f"the recall names {sorted(told)}, not every query of zjj")
        return (
            f"the source fixed it; zjj was told by the exchange (correction.recall, signed by the gateway) "
            f"which of its queries received the old value: {', '.join(sorted(told))}"
        )

    def seen() -> str:
        rows = citizen_page(world.base_url, world.subjects.contested_owner)
        housing = [r for r in rows if r.department == "zjj" and set(HOUSING) <= set(r.elements)]
        expect(bool(housing), f"the citizen page does not show zjj reading {HOUSING}: {rows[:5]}")
        leaked = [r for r in rows if set(INCOME) & set(r.elements) and r.department != "zjj"]
        expect(not leaked, f"the page shows income proxies read by another department: {leaked}")
        departments = sorted({r.department for r in rows})
        return (
            f"signed in with the identity provider, the applicant sees {len(rows)} reading(s) of their "
            f"data by {', '.join(departments)}; 住建局's shows {', '.join(HOUSING)} for public rental "
            "housing, with its case number; the refused request released nothing and is not listed"
        )

    def again() -> str:
        answer = world.ask("zjj", person, [CONTESTED], HOUSING_ITEM)
        expect(isinstance(answer, QueryAnswer), f"refused: {answer}")
        assert isinstance(answer, QueryAnswer)
        expect(not answer.results[0].disputed, "the answer is still flagged")
        return "asked again under its own purpose: the corrected value, no flag"

    return Scenario(
        "C",
        "公租房申请 (public rental housing, 住建局)",
        [
            Step(
                "住建局 zjj",
                "fetches household members, income proxies, property records and marital status for "
                "330100-GZF-001",
                housing,
            ),
            Step(
                "住建局 zjj",
                "asks the same income proxies and property records for another service item "
                "(sole-trader registration)",
                lambda: _denied(
                    world.ask("zjj", person, [*INCOME, CONTESTED], SOLE_TRADER_ITEM), NOT_NECESSARY
                ),
            ),
            Step(
                "住建局 zjj",
                f"finds {CONTESTED} wrong (a flat sold last year is still listed) and files a correction",
                contest,
            ),
            Step(CONTESTED_SOURCE, "accepts and fixes it; every earlier receiver is told", fix),
            Step("住建局 zjj", "re-queries", again),
            Step("the applicant (市民)", "opens the citizen page (数据使用记录): who read my data?", seen),
        ],
    )


SCENARIOS: dict[str, Callable[[DemoWorld], Scenario]] = {"A": scenario_a, "B": scenario_b, "C": scenario_c}

"""SCENARIOS.md B as demo steps: the newborn's bundle (新生儿出生一件事), one application, four departments.

Each department's system prefills the bundle for the family (mother, father, child) in one call, as
its own step's caseworker would; the demo checks that every material it may read came back verified,
that it got no other step's material, and that another step's element is refused to it.
"""

import uuid

from connectors.client import GatewayError, QueryAnswer
from connectors.prefill import PrefillAnswer
from shuyuan.demo.runner import Scenario, Step, expect
from shuyuan.demo.world import CASEWORKER, DemoWorld
from shuyuan.sample_catalogue import NEWBORN_ITEM, SERVICE_ITEMS

_ITEM = next(i for i in SERVICE_ITEMS if i["code"] == NEWBORN_ITEM)
_STEP_NAMES = {s["department"]: s["name"] for s in _ITEM["steps"]}


def materials_of(dept: str) -> set[str]:
    """The materials a department reads for the bundle: its steps', and for the handler the intake."""
    mine = {m for step in _ITEM["steps"] if step["department"] == dept for m in step["materials"]}
    if dept == _ITEM["handling_department"]:
        in_steps = {m for step in _ITEM["steps"] for m in step["materials"]}
        mine |= {m["name"] for m in _ITEM["materials"]} - in_steps
    return mine


def scenario_b(world: DemoWorld) -> Scenario:
    """新生儿出生一件事: each step's department prefills the bundle and gets its own step only."""
    s = world.subjects
    family = {
        "mother": ("person", s.newborn_mother),
        "father": ("person", s.newborn_father),
        "child": ("person", s.newborn),
    }

    def prefill(dept: str) -> str:
        try:
            answer: PrefillAnswer | GatewayError = world.consumer(dept).prefill(
                service_item=NEWBORN_ITEM,
                subjects=family,
                case_no=f"DEMO-XSE-{uuid.uuid4().hex[:8]}",
                on_behalf_of=CASEWORKER,
            )
        except GatewayError as exc:
            answer = exc
        expect(isinstance(answer, PrefillAnswer), f"refused: {getattr(answer, 'problem', answer)}")
        assert isinstance(answer, PrefillAnswer)
        got = {m.name for m in answer.materials}
        expect(
            got == materials_of(dept), f"got materials {sorted(got)}, expected {sorted(materials_of(dept))}"
        )
        expect(answer.status == "complete", f"still to bring: {answer.to_bring}")
        sources = sorted({r.source or "?" for m in answer.materials for r in m.results})
        return (
            f"{len(got)} material(s) supplied and verified in one call ({'、'.join(sorted(got))}), "
            f"fanned out to {', '.join(sources)}; nothing of the other steps, nothing to bring"
        )

    def other_step() -> str:
        asked: QueryAnswer | GatewayError = world.ask(
            "ybj", family["mother"], ["person.marital_status"], NEWBORN_ITEM
        )
        expect(isinstance(asked, QueryAnswer), f"refused outright: {getattr(asked, 'problem', asked)}")
        assert isinstance(asked, QueryAnswer)
        reasons = [r.reason for r in asked.results]
        expect(reasons == ["not_necessary_for_purpose"], f"expected not_necessary_for_purpose, got {reasons}")
        return "denied not_necessary_for_purpose: the marriage certificate is 户口登记's, not 医保参保's"

    def outsider() -> str:
        try:
            world.consumer("zjj").prefill(
                service_item=NEWBORN_ITEM, subjects=family, case_no="DEMO-ZJJ-XSE", on_behalf_of=CASEWORKER
            )
        except GatewayError as exc:
            reason = exc.problem.get("reason")
            expect(reason == "not_participant", f"expected not_participant, got {reason}")
            return "refused not_participant: nothing asked, nothing released, the refusal audited"
        expect(False, "zjj, outside the bundle, was answered")
        return ""

    def step(dept: str, label: str) -> Step:
        return Step(
            label,
            f"opens its step ({_STEP_NAMES.get(dept, '受理')}) and prefills the bundle",
            lambda: prefill(dept),
        )

    return Scenario(
        "B",
        "新生儿出生一件事 (a newborn's bundle: one application, four departments)",
        [
            step("psb", "公安局 psb (handler)"),
            step("wjw", "卫健委 wjw"),
            step("ybj", "医保局 ybj"),
            step("hrss", "人社局 hrss"),
            Step("医保局 ybj", "asks for the mother's marital status, another step's material", other_step),
            Step("住建局 zjj", "not in the bundle, tries to prefill it", outsider),
        ],
    )

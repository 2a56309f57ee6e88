"""The demo's runner: a step that does not behave as told fails the run, stops its scenario, and says
why; the other scenarios still run."""

from shuyuan.demo.runner import Scenario, Step, StepFailed, expect, run


def test_a_step_not_as_told_is_counted_and_stops_its_scenario() -> None:
    ran: list[str] = []

    def ok(name: str) -> Step:
        return Step("zjj", name, lambda: ran.append(name) or f"{name} done")

    def wrong() -> str:
        expect(False, "told amr only, expected amr and fso")
        return "unreachable"

    lines: list[str] = []
    failed = run(
        [
            Scenario("A", "first", [ok("a1"), Step("xzsp", "a2", wrong), ok("a3")]),
            Scenario("C", "second", [ok("c1")]),
        ],
        echo=lines.append,
    )
    assert failed == 1
    assert ran == ["a1", "c1"]  # a3 builds on a2: not run; C still runs
    assert "    ✗ NOT AS TOLD: told amr only, expected amr and fso" in lines
    assert lines[-1] == "\n1 step(s) did not behave as told."


def test_an_unexpected_error_is_a_failed_step_with_its_type() -> None:
    def boom() -> str:
        raise ConnectionError("gateway went away")

    lines: list[str] = []
    assert run([Scenario("B", "x", [Step("wjw", "b1", boom)])], echo=lines.append) == 1
    assert "    ✗ ERROR: ConnectionError: gateway went away" in lines
    assert issubclass(StepFailed, Exception)

"""The demo's steps: each says who asks what and why, does it through the SDK, and checks what happened.

A step passes when the exchange behaves as the scenario tells (a release, a denial with its reason, a
recall received ...); the runner prints each step and exits non-zero when any did not, so a newcomer
(and CI) can trust that the story printed is the story that ran.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import typer


class StepFailed(Exception):
    """The exchange did not behave as the scenario tells."""


@dataclass(frozen=True)
class Step:
    """One step of a scenario: who does what (in words), and the action that does and checks it."""

    who: str
    what: str
    run: Callable[[], str]  # does the step; returns what happened, in words; raises StepFailed


@dataclass
class Scenario:
    """A scenario of SCENARIOS.md and its steps, run in order (a later step may need an earlier one)."""

    code: str
    title: str
    steps: Sequence[Step] = field(default_factory=list)


def expect(condition: bool, message: str) -> None:
    """Fail the step with `message` unless `condition` holds."""
    if not condition:
        raise StepFailed(message)


def run(scenarios: Sequence[Scenario], echo: Callable[[str], None] = typer.echo) -> int:
    """Run every scenario's steps; the number of steps that did not behave as told."""
    failed = 0
    for scenario in scenarios:
        echo(f"\n== {scenario.code}. {scenario.title} ==")
        for number, step in enumerate(scenario.steps, 1):
            echo(f"{scenario.code}{number}. {step.who}: {step.what}")
            try:
                happened = step.run()
            except StepFailed as exc:
                failed += 1
                echo(f"    ✗ NOT AS TOLD: {exc}")
                break  # the scenario's later steps build on this one
            except Exception as exc:  # an unexpected error is a failed step too, with its reason
                failed += 1
                echo(f"    ✗ ERROR: {type(exc).__name__}: {exc}")
                break
            for line in happened.splitlines():
                echo(f"    ✓ {line}")
    echo("\nEvery step behaved as told." if not failed else f"\n{failed} step(s) did not behave as told.")
    return failed

"""Value schemas (JSON Schema): the registration rules and a validator that never fetches anything.

jsonschema resolves a `$ref` it does not know by fetching the URL (with a deprecation warning): a
value schema could make every connector and SDK that validates a value send a request wherever it
names (SSRF). So a value schema may refer only inside itself (`#...`), and the validator built here
has a reference registry whose `retrieve` refuses every URI.

`pattern` (and `patternProperties` keys) run on Python's backtracking `re`, which has no timeout,
and no regex engine with timeouts (`regex`, `re2`) is a dependency: the cost is bounded by shape
instead, a length limit and no nested repetition such as `(a+)+` (the classic catastrophic
backtracking form, OWASP "ReDoS").
"""

import functools
import json
import re
from collections.abc import Iterator
from typing import Any, NoReturn

from jsonschema import validators
from jsonschema.protocols import Validator
from referencing import Registry
from referencing.exceptions import NoSuchResource

MAX_PATTERN_LENGTH = 256
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_REPEAT = re.compile(r"[*+]|\{\d*,\d*\}|\{(?:[2-9]|\d{2,})\}")


class UnsafeValueSchema(ValueError):
    """A value schema this system will not use (remote reference, costly pattern)."""


def _refuse(uri: str) -> NoReturn:
    """The registry's retrieve: no value schema may make us fetch a URI."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


NO_REMOTE: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]  # attrs field


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) of every object member, depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}/{key}"
            yield path, key, value
            yield from _walk(value, path)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{where}/{i}")


def pattern_problem(pattern: str) -> str | None:
    """Why a regular expression is too costly to run on values, or None."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"a pattern may have at most {MAX_PATTERN_LENGTH} characters"
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"not a regular expression: {exc}"
    # One pass over the pattern: a stack of open groups, each remembering whether a repeated item
    # is inside it; a repeated group that contains a repetition is nested repetition.
    stack: list[bool] = [False]
    closed_repeats = False  # the group just closed contains a repetition
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            closed_repeats = False
            continue
        if c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
            i += 1
            closed_repeats = False
            continue
        if c == "(":
            stack.append(False)
            i += 1
            closed_repeats = False
            continue
        if c == ")":
            closed_repeats = stack.pop() if len(stack) > 1 else False
            stack[-1] = stack[-1] or closed_repeats
            i += 1
            continue
        repeat = _REPEAT.match(pattern, i)
        if repeat:
            if closed_repeats:
                return "a pattern may not repeat a group that itself repeats (e.g. (a+)+)"
            stack[-1] = True
            i = repeat.end()
            if i < n and pattern[i] in "?+":  # lazy or possessive modifier
                i += 1
            closed_repeats = False
            continue
        closed_repeats = False
        i += 1
    return None


def problems(schema: Any) -> list[str]:
    """Every reason this value schema is unsafe to use (empty: usable as far as these rules go)."""
    found: list[str] = []
    for path, key, value in _walk(schema):
        if key in _REF_KEYWORDS and isinstance(value, str) and not value.startswith("#"):
            found.append(f"{path}: only local references (#...) are allowed")
        elif key == "pattern" and isinstance(value, str):
            if (why := pattern_problem(value)) is not None:
                found.append(f"{path}: {why}")
        elif key == "patternProperties" and isinstance(value, dict):
            for regex in value:
                if (why := pattern_problem(regex)) is not None:
                    found.append(f"{path}: {why}")
    return found


def check(schema: Any) -> None:
    """Raise UnsafeValueSchema or SchemaError unless this is a valid JSON Schema under these rules."""
    found = problems(schema)
    if found:
        raise UnsafeValueSchema("; ".join(found)[:300])
    validators.validator_for(schema).check_schema(schema)


def validator(schema: dict[str, Any]) -> Validator:
    """A validator for a value schema that resolves only references inside it and fetches nothing.

    Raises UnsafeValueSchema or SchemaError for a schema that breaks the rules (one that reached a
    database without passing the registry, say): a caller then refuses the value.
    """
    return _cached(json.dumps(schema, sort_keys=True))


def conforms(value: Any, schema: dict[str, Any] | None) -> bool:
    """Whether a value matches its value schema (none: anything goes); an unsafe or unusable schema, never."""
    if not schema:
        return True
    try:
        return validator(schema).is_valid(value)
    except Exception:  # unsafe, invalid or unresolvable: must not let unchecked values through
        return False


@functools.lru_cache(maxsize=256)
def _cached(schema_json: str) -> Validator:
    schema = json.loads(schema_json)
    check(schema)
    cls = validators.validator_for(schema)
    return cls(schema, registry=NO_REMOTE, format_checker=cls.FORMAT_CHECKER)

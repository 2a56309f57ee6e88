"""The console's labels: both languages complete, every key a template or view uses exists."""

import re
import string
from pathlib import Path

from console.i18n import LANGUAGES, MESSAGES, translator
from console.views import elements

CONSOLE = Path(__file__).resolve().parents[2] / "registry" / "console"


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_label_exists_in_both_languages_with_the_same_placeholders() -> None:
    assert LANGUAGES == ("zh", "en")
    for key, pair in MESSAGES.items():
        assert len(pair) == 2 and all(text.strip() for text in pair), key
        assert _placeholders(pair[0]) == _placeholders(pair[1]), key
        assert re.search(r"[\u4e00-\u9fff]", pair[0]), f"{key}: the Chinese label has no Chinese"


def test_every_key_used_by_templates_and_views_is_defined() -> None:
    used: set[str] = set()
    for path in CONSOLE.rglob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_0-9]+\.[a-z_0-9.]+)'\s*[,)]", path.read_text()))
    for path in CONSOLE.rglob("*.py"):
        used |= set(
            re.findall(
                r'"((?:form|login|element|agreements|handovers|retire|error)\.[a-z_]+)"', path.read_text()
            )
        )
    missing = sorted(k for k in used if k not in MESSAGES and not k.endswith(".html"))
    assert not missing, missing


def test_every_choice_of_the_element_form_has_a_label() -> None:
    prefix = {
        "subject_type": "subject.",
        "value_type": "vtype.",
        "sensitivity": "sensitivity.",
        "grade": "grade.",
        "sharing_type": "sharing.",
        "update_frequency": "freq.",
        "status": "status.",
    }
    for field, values in elements.CHOICES.items():
        for value in values:
            assert prefix[field] + value in MESSAGES, (field, value)
    for status in ("superseded", "retired"):
        assert f"status.{status}" in MESSAGES
    for outcome in ("keep", "handover", "merge", "distinct"):
        assert {
            f"resolution.{outcome}",
            f"resolution.{outcome}_help",
            f"disputes.resolved_{outcome}",
        } <= MESSAGES.keys()
    for kind in ("claim", "near_duplicate"):
        assert f"disputes.explain_{kind}" in MESSAGES and f"dispute.{kind}" in MESSAGES
    for target in ("retired", "superseded"):
        assert f"retire.submit_{target}" in MESSAGES and f"retire.title_{target}" in MESSAGES
    for failure in ("invalid", "demo_password"):  # a lock shows `invalid` too (no username oracle)
        assert f"login.{failure}" in MESSAGES


def test_translator_formats_and_falls_back_to_the_key() -> None:
    zh, en = translator("zh"), translator("en")
    assert zh("pager.rows", first=1, last=20, total=57) == "第 1–20 条，共 57 条"
    assert en("pager.rows", first=1, last=20, total=57) == "1–20 of 57"
    assert translator("fr")("nav.dashboard") == "工作台"  # unknown language: Chinese
    assert en("no.such.key") == "no.such.key"
    assert en("hint.value_schema").startswith('Optional, e.g. {"type"')

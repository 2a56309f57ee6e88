"""Near-duplicate names: normalisation and the similarity measure, on near and far pairs."""

import pytest

from registry.elements.similarity import SIMILARITY_THRESHOLD, best_match, normalise, similarity


def test_normalisation_folds_width_case_punctuation_and_spaces() -> None:
    assert normalise("Ｄａｔｅ－ｏｆ　Ｂｉｒｔｈ") == "dateofbirth"
    assert normalise(" 出生 日期（公历） ") == "出生日期公历"
    assert normalise("Date_of-Birth!") == "dateofbirth"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("出生日期", "出生 日期"),
        ("出生日期", "出生日期："),
        ("Date of birth", "DATE-OF-BIRTH"),
        ("Date of birth", "Birth date of"),
        ("缴费基数", "缴费基数额"),
        ("Contribution base", "Contribution bases"),
        ("统一社会信用代码", "统一社会信用代碼"),  # one traditional character
    ],
)
def test_near_pairs_reach_the_threshold(a: str, b: str) -> None:
    assert similarity(a, b) >= SIMILARITY_THRESHOLD


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("户籍地址", "居住地址"),
        ("参保状态", "参保单位"),
        ("Name", "Enterprise name"),
        ("姓名", "企业名称"),
        ("Date of birth", "Date established"),
        ("", "姓名"),
        ("！！", "姓名"),
    ],
)
def test_far_pairs_stay_below_the_threshold(a: str, b: str) -> None:
    assert similarity(a, b) < SIMILARITY_THRESHOLD


def test_best_match_names_the_closest_pair() -> None:
    match = best_match(["出生年月日", "Birthday"], ["出生日期", "Date of birth", "生日"])
    assert (match.name, match.other_name) == ("出生年月日", "出生日期")
    assert 0 < match.score < 100

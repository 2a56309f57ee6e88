"""Tests for resident ID (GB 11643) and USCC (GB 32100) validation."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import identifiers
from protocol.identifiers import (
    USCC_CHARSET,
    InvalidSubjectId,
    is_valid_resident_id,
    is_valid_uscc,
    make_resident_id,
    make_uscc,
    normalise_subject_id,
    resident_id_check_char,
    uscc_check_char,
)

# The sample number printed in GB 11643-1999 itself.
STANDARD_RESIDENT_ID = "11010519491231002X"
# Published on business licences: a widely cited sample, 深圳市腾讯计算机系统有限公司, 华为技术有限公司.
KNOWN_USCCS = ("91350100M000100Y43", "91440300708461136T", "914403001922038216")

INJECTIONS = (
    "' OR '1'='1",
    "11010519491231002X' OR '1'='1",
    "11010519491231002X; DROP TABLE hukou_person;--",
    "<script>alert(1)</script>",
    "91350100M000100Y43<script>",
    "${jndi:ldap://x/a}",
    "../../etc/passwd",
    "11010519491231002\x00",
)


def _replace(value: str, position: int, char: str) -> str:
    return value[:position] + char + value[position + 1 :]


def _resident_id_for(birth: datetime.date) -> str:
    """A resident ID with a correct check character whatever its birth date (make_* refuses bad ones)."""
    body = f"110105{birth:%Y%m%d}002"
    return body + resident_id_check_char(body)


# --- known vectors -------------------------------------------------------------------------------


def test_standard_sample_resident_id_is_valid() -> None:
    assert resident_id_check_char(STANDARD_RESIDENT_ID[:17]) == "X"
    assert is_valid_resident_id(STANDARD_RESIDENT_ID)
    assert normalise_subject_id("person", STANDARD_RESIDENT_ID) == STANDARD_RESIDENT_ID


def test_lowercase_x_is_normalised() -> None:
    assert normalise_subject_id("person", "11010519491231002x") == STANDARD_RESIDENT_ID


@pytest.mark.parametrize("uscc", KNOWN_USCCS)
def test_known_usccs_are_valid(uscc: str) -> None:
    assert uscc_check_char(uscc[:17]) == uscc[17]
    assert is_valid_uscc(uscc)
    assert normalise_subject_id("enterprise", uscc) == uscc


def test_uscc_is_upper_cased_and_stripped() -> None:
    assert normalise_subject_id("enterprise", " 91350100m000100y43\n") == "91350100M000100Y43"


def test_resident_id_surrounding_ascii_whitespace_is_stripped() -> None:
    assert normalise_subject_id("person", "\t11010519491231002X ") == STANDARD_RESIDENT_ID


def test_uscc_check_value_31_maps_to_zero() -> None:
    # Search the first bodies whose weighted sum is a multiple of 31: their check character is "0".
    for n in range(1000):
        body = f"91110000{n:09d}"
        if (
            sum(USCC_CHARSET.index(c) * w for c, w in zip(body, identifiers._USCC_WEIGHTS, strict=True)) % 31
            == 0
        ):
            assert uscc_check_char(body) == "0"
            assert is_valid_uscc(body + "0")
            return
    pytest.fail("no body with sum divisible by 31 found")


def test_make_resident_id_matches_standard_sample() -> None:
    assert make_resident_id("110105", datetime.date(1949, 12, 31), 2) == STANDARD_RESIDENT_ID


def test_make_uscc_matches_known_code() -> None:
    assert make_uscc("9", "1", "350100", "M000100Y4") == "91350100M000100Y43"


# --- invalid resident IDs ------------------------------------------------------------------------

INVALID_RESIDENT_IDS = {
    "empty": "",
    "whitespace only": "   ",
    "too short": STANDARD_RESIDENT_ID[:17],
    "too long": STANDARD_RESIDENT_ID + "0",
    "15-digit first generation": "110105491231002",
    "bad check char": "110105194912310021",
    "check char not digit or X": "11010519491231002A",
    "letter in body": "11010519491231O02X",
    "inner space": "110105 19491231002X",
    "fullwidth digit": "１10105194912310021",
    "all fullwidth": "１１０１０５１９４９１２３１００２Ｘ",
    "arabic-indic digit": "\u0661" + STANDARD_RESIDENT_ID[1:],
    "ideographic space around": "\u3000" + STANDARD_RESIDENT_ID,
    "feb 30": _resident_id_for(datetime.date(2000, 2, 1)).replace("20000201", "20000230"),
    "month 13": "110105199913010020",
    "before 1900 (valid check char)": "440524188001010014",
    "a USCC": KNOWN_USCCS[0],
}


@pytest.mark.parametrize("value", INVALID_RESIDENT_IDS.values(), ids=INVALID_RESIDENT_IDS.keys())
def test_invalid_resident_ids(value: str) -> None:
    assert not is_valid_resident_id(value)
    with pytest.raises(InvalidSubjectId) as excinfo:
        normalise_subject_id("person", value)
    assert excinfo.value.detail
    assert isinstance(excinfo.value, ValueError)


def test_feb_30_is_rejected_as_impossible_date() -> None:
    body = "11010520000230002"
    with pytest.raises(InvalidSubjectId, match="not a real calendar date"):
        normalise_subject_id("person", body + resident_id_check_char(body))


def test_feb_29_only_in_leap_years() -> None:
    assert is_valid_resident_id(_resident_id_for(datetime.date(2000, 2, 29)))
    body = "11010519000229002"  # 1900 is not a leap year
    assert not is_valid_resident_id(body + resident_id_check_char(body))


def test_future_birth_date_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identifiers, "_today", lambda: datetime.date(2020, 6, 1))
    assert is_valid_resident_id(_resident_id_for(datetime.date(2020, 6, 1)))
    with pytest.raises(InvalidSubjectId, match="future"):
        normalise_subject_id("person", _resident_id_for(datetime.date(2020, 6, 2)))


def test_tomorrow_is_rejected_with_real_clock() -> None:
    tomorrow = datetime.date.today() + datetime.timedelta(days=1)
    assert not is_valid_resident_id(_resident_id_for(tomorrow))


def test_bad_check_char_detail_does_not_reveal_the_right_one() -> None:
    with pytest.raises(InvalidSubjectId) as excinfo:
        normalise_subject_id("person", "110105194912310021")
    assert excinfo.value.detail == "check character does not match"
    assert "X" not in excinfo.value.detail


def test_detail_does_not_echo_the_identifier() -> None:
    for value in INVALID_RESIDENT_IDS.values():
        with pytest.raises(InvalidSubjectId) as excinfo:
            normalise_subject_id("person", value)
        assert not value.strip() or value.strip() not in excinfo.value.detail


# --- invalid USCCs -------------------------------------------------------------------------------

INVALID_USCCS = {
    "empty": "",
    "whitespace only": "\t \n",
    "too short": KNOWN_USCCS[0][:17],
    "too long": KNOWN_USCCS[0] + "0",
    "bad check char": "91350100M000100Y44",
    "letter I": "91350100M000100I43",
    "letter O": "91350100M0O0100Y43",
    "letter Z": "91350100M000100Z43",
    "letter S": "9135010SM000100Y43",
    "letter V": "V1350100M000100Y43",
    "letter in region code": "913501A0M000100Y43",
    "inner space": "91350100M000 00Y43",
    "fullwidth digit": "９1350100M000100Y43",
    "ligature ff upper-cases to ASCII": "ﬀ" + KNOWN_USCCS[0][2:],
    "long s upper-cases to S": "ſ" + KNOWN_USCCS[0][1:],
    "punctuation": "91350100-M000100Y4",
    "a resident ID": STANDARD_RESIDENT_ID,
}


@pytest.mark.parametrize("value", INVALID_USCCS.values(), ids=INVALID_USCCS.keys())
def test_invalid_usccs(value: str) -> None:
    assert not is_valid_uscc(value)
    with pytest.raises(InvalidSubjectId) as excinfo:
        normalise_subject_id("enterprise", value)
    assert excinfo.value.detail


def test_ligature_is_rejected_even_though_its_upper_case_would_validate() -> None:
    # "ﬀ".upper() == "FF": build a code starting "FF" to prove the ASCII check comes first.
    code = make_uscc("F", "F", "350100", "M000100Y4")
    assert is_valid_uscc(code)
    assert not is_valid_uscc("ﬀ" + code[2:])


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("subject_type", ["person", "enterprise"])
def test_injection_strings_are_rejected(subject_type: identifiers.SubjectType, value: str) -> None:
    with pytest.raises(InvalidSubjectId):
        normalise_subject_id(subject_type, value)


def test_unknown_subject_type_is_rejected() -> None:
    with pytest.raises(InvalidSubjectId):
        normalise_subject_id("vehicle", STANDARD_RESIDENT_ID)  # type: ignore[arg-type]


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidSubjectId):
        normalise_subject_id("person", 110105194912310020)  # type: ignore[arg-type]


# --- builders and check-char helpers refuse bad input --------------------------------------------


@pytest.mark.parametrize(
    ("region", "birth", "sequence"),
    [
        ("11010", datetime.date(1990, 1, 1), 1),
        ("11010a", datetime.date(1990, 1, 1), 1),
        ("１10105", datetime.date(1990, 1, 1), 1),
        ("110105", datetime.date(1899, 12, 31), 1),
        ("110105", datetime.date.today() + datetime.timedelta(days=1), 1),
        ("110105", datetime.date(1990, 1, 1), -1),
        ("110105", datetime.date(1990, 1, 1), 1000),
    ],
)
def test_make_resident_id_rejects_bad_parts(region: str, birth: datetime.date, sequence: int) -> None:
    with pytest.raises(InvalidSubjectId):
        make_resident_id(region, birth, sequence)


@pytest.mark.parametrize(
    ("authority", "entity_type", "region", "org_code"),
    [
        ("", "1", "350100", "M000100Y4"),
        ("91", "1", "350100", "M000100Y4"),
        ("I", "1", "350100", "M000100Y4"),
        ("9", "O", "350100", "M000100Y4"),
        ("9", "1", "35010A", "M000100Y4"),
        ("9", "1", "350100", "M000100Y"),
        ("9", "1", "350100", "m000100y4"),
        ("9", "1", "350100", "S000100Y4"),
    ],
)
def test_make_uscc_rejects_bad_parts(authority: str, entity_type: str, region: str, org_code: str) -> None:
    with pytest.raises(InvalidSubjectId):
        make_uscc(authority, entity_type, region, org_code)


@pytest.mark.parametrize("first17", ["", "1101051949123100", "110105194912310021", "1101051949123100X"])
def test_resident_check_char_rejects_bad_body(first17: str) -> None:
    with pytest.raises(InvalidSubjectId):
        resident_id_check_char(first17)


@pytest.mark.parametrize("first17", ["", "91350100M000100Y", "91350100M000100Y43", "91350100M000100I4"])
def test_uscc_check_char_rejects_bad_body(first17: str) -> None:
    with pytest.raises(InvalidSubjectId):
        uscc_check_char(first17)


# --- properties ----------------------------------------------------------------------------------

regions = st.text(alphabet="0123456789", min_size=6, max_size=6)
births = st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date.today())
sequences = st.integers(min_value=0, max_value=999)
uscc_chars = st.sampled_from(USCC_CHARSET)
org_codes = st.text(alphabet=USCC_CHARSET, min_size=9, max_size=9)


@given(region=regions, birth=births, sequence=sequences)
def test_made_resident_ids_validate(region: str, birth: datetime.date, sequence: int) -> None:
    value = make_resident_id(region, birth, sequence)
    assert is_valid_resident_id(value)
    assert normalise_subject_id("person", value) == value
    assert normalise_subject_id("person", value.lower()) == value


@given(authority=uscc_chars, entity_type=uscc_chars, region=regions, org_code=org_codes)
def test_made_usccs_validate(authority: str, entity_type: str, region: str, org_code: str) -> None:
    value = make_uscc(authority, entity_type, region, org_code)
    assert is_valid_uscc(value)
    assert normalise_subject_id("enterprise", value) == value
    assert normalise_subject_id("enterprise", value.lower()) == value


@given(region=regions, birth=births, sequence=sequences, position=st.integers(0, 17), data=st.data())
def test_any_single_substitution_invalidates_a_resident_id(
    region: str, birth: datetime.date, sequence: int, position: int, data: st.DataObject
) -> None:
    value = make_resident_id(region, birth, sequence)
    # MOD 11-2 weights are all non-zero modulo the prime 11, so every single substitution is detected.
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != value[position]]))
    assert not is_valid_resident_id(_replace(value, position, replacement))


@given(
    authority=uscc_chars,
    entity_type=uscc_chars,
    region=regions,
    org_code=org_codes,
    position=st.integers(0, 17),
    data=st.data(),
)
def test_any_single_substitution_invalidates_a_uscc(
    authority: str, entity_type: str, region: str, org_code: str, position: int, data: st.DataObject
) -> None:
    value = make_uscc(authority, entity_type, region, org_code)
    # MOD 31 weights are all non-zero modulo the prime 31, so every single substitution is detected.
    replacement = data.draw(st.sampled_from([c for c in USCC_CHARSET if c != value[position]]))
    assert not is_valid_uscc(_replace(value, position, replacement))


@given(st.text(max_size=30))
def test_arbitrary_text_never_raises_anything_but_invalid_subject_id(value: str) -> None:
    for subject_type in ("person", "enterprise"):
        try:
            normalised = normalise_subject_id(subject_type, value)  # type: ignore[arg-type]
        except InvalidSubjectId:
            continue
        assert normalise_subject_id(subject_type, normalised) == normalised  # type: ignore[arg-type]

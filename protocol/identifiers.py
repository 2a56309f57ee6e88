"""Subject identifiers: resident identity numbers (GB 11643-1999) and USCCs (GB 32100-2015).

Both are validated at the edge (DESIGN.md §10); a value that fails here is `invalid_subject_id`.
Error details never echo the value or its birth date: the detail may reach logs and responses, and
the identifier is personal data.
"""

from __future__ import annotations

import datetime
from typing import Literal

from protocol.errors import ShuyuanError
from protocol.reasons import Reason

SubjectType = Literal["person", "enterprise"]


class InvalidSubjectId(ShuyuanError, ValueError):
    """The identifier is malformed or its check character is wrong.

    Still a ValueError, as it always was: code that validates input with `except ValueError` (pydantic
    validators among them) keeps treating it as a bad value.
    """

    status = 400
    reason = Reason.INVALID_SUBJECT_ID

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


# Only ASCII whitespace is trimmed: anything else (an ideographic space, a fullwidth digit) means the
# value was not typed or copied as an identifier, and guessing what was meant is the caller's job.
_ASCII_WHITESPACE = " \t\r\n\f\v"
_DIGITS = frozenset("0123456789")

# GB 11643-1999 §5-6: ISO 7064 MOD 11-2, weight i = 2^(17-i) mod 11, check value mapped through this table.
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK_MAP = "10X98765432"
_RESIDENT_CHECK_CHARS = frozenset(_RESIDENT_CHECK_MAP)
_EARLIEST_BIRTH = datetime.date(1900, 1, 1)

# GB 32100-2015 §4: 31 characters, the digits and capitals without I, O, Z, S, V (easily misread).
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {char: value for value, char in enumerate(USCC_CHARSET)}
# GB 32100-2015 §5: weight i = 3^(i-1) mod 31.
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _today() -> datetime.date:
    """Today's date; a function so tests can pin the clock."""
    return datetime.date.today()


def _is_digits(text: str) -> bool:
    # str.isdigit() also accepts fullwidth and other Unicode digits, which no register issues.
    return all(char in _DIGITS for char in text)


def _check_birth(birth: datetime.date) -> None:
    if birth < _EARLIEST_BIRTH:
        raise InvalidSubjectId("birth date is before 1900")
    if birth > _today():
        raise InvalidSubjectId("birth date is in the future")


def _parse_birth(yyyymmdd: str) -> datetime.date:
    try:
        birth = datetime.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise InvalidSubjectId("birth date is not a real calendar date") from None
    _check_birth(birth)
    return birth


def resident_id_check_char(first17: str) -> str:
    """Return the GB 11643 check character (0-9 or X) for the first 17 digits of a resident ID."""
    if len(first17) != 17 or not _is_digits(first17):
        raise InvalidSubjectId("the first 17 characters of a resident ID must be ASCII digits")
    total = sum(int(char) * weight for char, weight in zip(first17, _RESIDENT_WEIGHTS, strict=True))
    return _RESIDENT_CHECK_MAP[total % 11]


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != 17 or any(char not in _USCC_VALUES for char in first17):
        raise InvalidSubjectId("the first 17 characters of a USCC must come from the GB 32100 character set")
    total = sum(_USCC_VALUES[char] * weight for char, weight in zip(first17, _USCC_WEIGHTS, strict=True))
    # 31 - (sum mod 31), where a result of 31 becomes 0.
    return USCC_CHARSET[(31 - total % 31) % 31]


def _normalise_resident_id(value: str) -> str:
    text = value.strip(_ASCII_WHITESPACE)
    if not text.isascii():
        raise InvalidSubjectId("a resident ID contains only ASCII digits and X")
    if len(text) != 18:
        raise InvalidSubjectId(f"a resident ID has 18 characters, not {len(text)}")
    body, check = text[:17], text[17].upper()
    if not _is_digits(body):
        raise InvalidSubjectId("the first 17 characters of a resident ID must be digits")
    if check not in _RESIDENT_CHECK_CHARS:
        raise InvalidSubjectId("the check character of a resident ID must be a digit or X")
    # The region code (positions 1-6) is not checked against GB/T 2260: the list changes every year
    # and people keep the number issued under an abolished code for life.
    _parse_birth(body[6:14])
    if resident_id_check_char(body) != check:
        raise InvalidSubjectId("check character does not match")
    return body + check


def _normalise_uscc(value: str) -> str:
    text = value.strip(_ASCII_WHITESPACE)
    # Reject non-ASCII before upper-casing: str.upper() maps some letters to ASCII ones ("ﬀ" -> "FF").
    if not text.isascii():
        raise InvalidSubjectId("a USCC contains only ASCII digits and capital letters")
    text = text.upper()
    if len(text) != 18:
        raise InvalidSubjectId(f"a USCC has 18 characters, not {len(text)}")
    for position, char in enumerate(text, start=1):
        if char not in _USCC_VALUES:
            raise InvalidSubjectId(
                f"character {position} of a USCC is outside the GB 32100 character set (no I, O, Z, S, V)"
            )
    # Positions 1 (registration authority) and 2 (entity type) are held to the character set only:
    # the authority and type tables are extended by notices after the standard (codes beyond the
    # common 1, 5, 9, Y exist), so a hard-coded table would reject codes issued later.
    if not _is_digits(text[2:8]):
        raise InvalidSubjectId("characters 3-8 of a USCC are a 6-digit region code")
    if uscc_check_char(text[:17]) != text[17]:
        raise InvalidSubjectId("check character does not match")
    return text


def normalise_subject_id(subject_type: SubjectType, value: str) -> str:
    """Return the canonical form of a subject identifier, or raise InvalidSubjectId."""
    if not isinstance(value, str):
        raise InvalidSubjectId("a subject identifier must be a string")
    if subject_type == "person":
        return _normalise_resident_id(value)
    if subject_type == "enterprise":
        return _normalise_uscc(value)
    raise InvalidSubjectId(f"unknown subject type {subject_type!r}")


def is_valid_resident_id(value: str) -> bool:
    """Return whether the value normalises to a valid GB 11643 resident identity number."""
    try:
        normalise_subject_id("person", value)
    except InvalidSubjectId:
        return False
    return True


def is_valid_uscc(value: str) -> bool:
    """Return whether the value normalises to a valid GB 32100 unified social credit code."""
    try:
        normalise_subject_id("enterprise", value)
    except InvalidSubjectId:
        return False
    return True


def make_resident_id(region: str, birth: datetime.date, sequence: int) -> str:
    """Build a valid resident ID from a 6-digit region code, a birth date and a sequence 0-999."""
    if len(region) != 6 or not _is_digits(region):
        raise InvalidSubjectId("region must be a 6-digit code")
    if not 0 <= sequence <= 999:
        raise InvalidSubjectId("sequence must be between 0 and 999")
    _check_birth(birth)
    # Explicit padding: strftime("%Y") does not zero-pad on every platform.
    body = f"{region}{birth.year:04d}{birth.month:02d}{birth.day:02d}{sequence:03d}"
    return body + resident_id_check_char(body)


def make_uscc(authority: str, entity_type: str, region: str, org_code: str) -> str:
    """Build a valid USCC from its authority code, entity type, region code and 9-character org code."""
    if len(authority) != 1 or authority not in _USCC_VALUES:
        raise InvalidSubjectId("authority must be one character from the GB 32100 character set")
    if len(entity_type) != 1 or entity_type not in _USCC_VALUES:
        raise InvalidSubjectId("entity type must be one character from the GB 32100 character set")
    if len(region) != 6 or not _is_digits(region):
        raise InvalidSubjectId("region must be a 6-digit code")
    if len(org_code) != 9 or any(char not in _USCC_VALUES for char in org_code):
        raise InvalidSubjectId("org code must be 9 characters from the GB 32100 character set")
    body = authority + entity_type + region + org_code
    return body + uscc_check_char(body)

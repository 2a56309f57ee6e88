"""Corrections' own error: a subclass of the shared roots with its reason code (docs/corrections.md)."""

from protocol.errors import Conflict, Denied
from protocol.reasons import Reason


class NotReceived(Denied):
    """Only a department that received the element for the subject in that query may file."""

    reason = Reason.NOT_RECEIVED


class NotFixed(Conflict):
    """A recall tells of a fixed value: a correction in any other state cannot be recalled."""

    reason = Reason.CORRECTION_NOT_FIXED

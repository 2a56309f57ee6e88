"""Corrections' own error: a subclass of the shared roots with its reason code (docs/corrections.md)."""

from protocol.errors import Denied
from protocol.reasons import Reason


class NotReceived(Denied):
    """Only a department that received the element for the subject in that query may file."""

    reason = Reason.NOT_RECEIVED

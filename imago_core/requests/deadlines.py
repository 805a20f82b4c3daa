"""Dates as the visitor reads them, and the one-month deadline of releases before the
legal clocks. A request's due date now comes from its clock (requests/clock_store.py,
requests/clocks/); `due_date` stays for tests that build rows the way old releases did."""
from __future__ import annotations

from datetime import datetime

from dateutil.relativedelta import relativedelta

from imago_core.language import dates


def due_date(received_at: datetime) -> datetime:
    """GDPR Art. 12(3): one month from receipt (31 Jan -> 28/29 Feb)."""
    return received_at + relativedelta(months=1)


def format_date(moment: datetime, language: str = "en") -> str:
    """English for staff and tickets; the visitor's language in replies."""
    return dates.format_date(moment, language)

"""Dates as the visitor reads them in a mail or a chat reply: the one formatter every
reply uses (imago_core/language/dates.py), named here for the clocks' callers."""
from __future__ import annotations

from imago_core.language.dates import format_date

__all__ = ["format_date"]

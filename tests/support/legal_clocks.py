"""Shared by the tests/test_legal_clocks_*.py files: UTC, the default regimes and
the short ways to write a moment (noon UTC) and a date."""
from __future__ import annotations

from datetime import date, datetime, timezone

UTC = timezone.utc
DEFAULT = ("gdpr", "pdpo")


def at(day: str, hour: int = 12, minute: int = 0) -> datetime:
    """Noon UTC by default: the same calendar date in every regime's offset (-8 .. +8)."""
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def d(day: str) -> date:
    return date.fromisoformat(day)


"""Retry timing for every remote call: when to try again.

One Retry-After parser for every HTTP client (ticket backends, RocketChat), and the
outbox's exponential backoff, which never waits less than the server asked for.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Optional

BASE_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(minutes=15)
# A Retry-After longer than this is a misconfigured server, not a reason to wait a day.
MAX_RETRY_AFTER = timedelta(hours=1)


def retry_after_seconds(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff(attempts: int, retry_after: Optional[float] = None) -> timedelta:
    """Exponential with jitter (so replicas that failed together don't retry together);
    never shorter than the server's Retry-After."""
    delay = min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    delay = delay * (0.8 + 0.4 * random.random())
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay

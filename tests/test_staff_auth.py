"""Finding 7 of issue 9: staff tokens are long, personal, and not brute-forceable."""
from __future__ import annotations

import pytest

from imago_core.settings import ConfigError
from imago_core.identity.staff_auth import FailureLimiter, staff_member, staff_tokens

LONG_A, LONG_B = "a" * 32, "b" * 40


def test_short_tokens_are_refused():
    with pytest.raises(ConfigError, match="STAFF_TOKEN is shorter than 32"):
        staff_tokens("x" * 31, None)
    with pytest.raises(ConfigError, match="entry of maria"):
        staff_tokens(None, f"tom:{LONG_A},maria:short")
    with pytest.raises(ConfigError, match="name:token"):
        staff_tokens(None, LONG_A)


def test_each_token_names_its_owner():
    tokens = staff_tokens(LONG_A, f"maria:{LONG_B}")
    assert staff_member(tokens, LONG_B) == "maria" and staff_member(tokens, LONG_A) == "staff"
    assert staff_member(tokens, LONG_B[:-1]) is None and staff_tokens(None, None) == {}


def test_limiter_blocks_after_ten_failures_a_minute_per_client():
    now = [0.0]
    limiter = FailureLimiter(limit=10, window=60, clock=lambda: now[0])
    for _ in range(10):
        assert not limiter.blocked("198.51.100.1")
        limiter.fail("198.51.100.1")
    assert limiter.blocked("198.51.100.1") and not limiter.blocked("198.51.100.2")
    now[0] = 60.5
    assert not limiter.blocked("198.51.100.1")

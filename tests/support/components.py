"""Real components the suite needs, and the one way to do without one.

A missing component fails its tests: a run with Request Tracker, PostgreSQL, Redis
or Chromium absent must not pass by skipping. To run without one on purpose, name
it: `IMAGO_SKIP=browser,rt make test`. The run then lists, at its end, what it
skipped and why (tests/conftest.py prints the list).
"""
from __future__ import annotations

import os
from typing import List, Set, Tuple

import pytest

KNOWN = {
    "rt": "Request Tracker 5",
    "postgres": "PostgreSQL",
    "redis": "Redis",
    "browser": "Chromium + Playwright",
    "shared": "the ../shared checkout (policy source)",
}

SKIPPED: List[Tuple[str, str]] = []  # (component, reason), printed at the end of the run


def asked_to_skip() -> Set[str]:
    names = {n.strip().lower() for n in os.environ.get("IMAGO_SKIP", "").split(",") if n.strip()}
    unknown = names - set(KNOWN)
    if unknown:
        raise pytest.UsageError(
            f"IMAGO_SKIP names unknown components {sorted(unknown)}; known: {', '.join(sorted(KNOWN))}"
        )
    return names


def require(component: str, present: bool, reason: str) -> None:
    """Fail the test when `component` is missing, unless IMAGO_SKIP names it."""
    if component not in KNOWN:
        raise ValueError(f"unknown component {component!r}")
    if present:
        return
    if component in asked_to_skip():
        SKIPPED.append((component, reason))
        pytest.skip(f"IMAGO_SKIP={component}: {reason}")
    pytest.fail(
        f"{KNOWN[component]} is missing: {reason}. Provide it, or skip its tests on purpose "
        f"with IMAGO_SKIP={component}.",
        pytrace=False,
    )

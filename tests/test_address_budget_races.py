"""Issue 23, finding 1, in parallel: wrong codes typed at once from many conversations
never get more tries at an address than its budget, on SQLite and PostgreSQL.
Threads call the real Verifier against a real database (as test_verification_races)."""
from __future__ import annotations

from collections import Counter

from imago_core.identity.codes import CheckStatus, Verifier
from tests.test_address_budget import network
from tests.test_verification import ADDRESS, SECRET
from tests.support.services import postgres  # noqa: F401 - session fixture
from tests.test_verification_races import ThreadSafeMailer, database, in_parallel  # noqa: F401 - fixture

BUDGET = 10  # the default: CODE_FAILURES_PER_ADDRESS


def _conversations(verifier, count: int) -> list:
    names = [f"crowd-{n}" for n in range(count)]
    for n, name in enumerate(names):
        verifier.request_code(name, ADDRESS, network(n))
    return names


def test_parallel_wrong_codes_from_many_conversations_never_exceed_the_budget(database):
    verifier = Verifier(SECRET, ThreadSafeMailer())
    names = _conversations(verifier, 30)
    # 60 guesses at once: two from each of 30 conversations on 30 networks.
    results = in_parallel(60, lambda n: verifier.check_code(names[n % 30], ADDRESS, f"{n:06d}").status)
    counts = Counter(result.value for result in results)
    evaluated = counts["wrong"] + counts["locked"] + counts["verified"]  # a code was compared
    assert evaluated <= BUDGET, counts
    assert counts["address_locked"] >= 60 - BUDGET, counts


def test_right_code_after_a_parallel_burst_does_not_verify(database):
    mailer = ThreadSafeMailer()
    verifier = Verifier(SECRET, mailer)
    verifier.request_code("lucky", ADDRESS, "203.0.113.9")
    code = mailer.last_code()
    names = _conversations(verifier, 20)
    in_parallel(20, lambda n: verifier.check_code(names[n], ADDRESS, "000000" if code != "000000" else "1"))
    assert verifier.check_code("lucky", ADDRESS, code).status is not CheckStatus.VERIFIED
    # Exactly one mail told the owner, though several threads saw the budget run out.
    assert sum(1 for to, subject, _ in mailer.sent if to == ADDRESS and "locked" in subject.lower()) == 1

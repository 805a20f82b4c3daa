"""Finding 4 and 5 of issue 9: the limits hold when requests arrive in parallel, on
SQLite and on PostgreSQL. Threads call the real Verifier against a real database."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from imago_core.storage import db as db_module
from imago_core.storage.db import session_scope
from imago_core.storage.models import CodeSend, OneTimeCode
from imago_core.settings import reset_settings_cache
from imago_core.identity.codes import CheckStatus, SendStatus, Verifier
from tests.support.services import postgres  # noqa: F401 - session fixture
from tests.test_verification import ADDRESS, SECRET, RecordingMailer, wrong


class ThreadSafeMailer(RecordingMailer):
    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def send(self, to, subject, body):
        with self._lock:
            super().send(to, subject, body)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, isolated_env, monkeypatch):
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        monkeypatch.setenv("DATABASE_URL", server.create_database(f"race_{uuid.uuid4().hex[:8]}"))
        reset_settings_cache()
        db_module.reset_engine()
    assert db_module.get_engine().dialect.name == request.param
    yield request.param
    db_module.reset_engine()


def in_parallel(count, call):
    barrier = threading.Barrier(count)

    def run(n):
        barrier.wait()  # release all at once
        return call(n)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_parallel_wrong_guesses_kill_the_code_after_five(database):
    mailer = ThreadSafeMailer()
    verifier = Verifier(SECRET, mailer)
    verifier.request_code("c1", ADDRESS)
    code = mailer.last_code()
    results = in_parallel(50, lambda n: verifier.check_code("c1", ADDRESS, wrong(code)).status)
    counts = Counter(results)
    assert counts[CheckStatus.WRONG] == 4, counts
    # The rest: the code's own limit, or the address's failure budget (issue 23) first.
    assert counts[CheckStatus.LOCKED] + counts[CheckStatus.NO_CODE] + counts[CheckStatus.ADDRESS_LOCKED] == 46, counts
    with session_scope() as session:
        row = session.execute(select(OneTimeCode)).scalar_one()
        assert row.failed_attempts == 5 and row.invalidated_at is not None
    assert verifier.check_code("c1", ADDRESS, code).status is CheckStatus.NO_CODE


def test_right_code_among_parallel_wrong_ones_never_outlives_the_limit(database):
    mailer = ThreadSafeMailer()
    verifier = Verifier(SECRET, mailer)
    verifier.request_code("c1", ADDRESS)
    code = mailer.last_code()
    results = in_parallel(30, lambda n: verifier.check_code("c1", ADDRESS, code if n == 29 else wrong(code)).status)
    with session_scope() as session:
        row = session.execute(select(OneTimeCode)).scalar_one()
    # Either the right guess came first among the live ones, or the code died first.
    if CheckStatus.VERIFIED in results:
        assert row.used_at is not None and row.failed_attempts < 5
    else:
        assert row.failed_attempts == 5 and row.used_at is None
    assert results.count(CheckStatus.VERIFIED) <= 1


def test_hundred_parallel_sends_to_one_address_mail_six(database):
    mailer = ThreadSafeMailer()
    verifier = Verifier(SECRET, mailer)
    # 100 client networks (IPv6 /64s): only the per-address ceiling applies.
    results = in_parallel(100, lambda n: verifier.request_code(f"conv-{n}", ADDRESS, f"2001:db8:{n:x}::1").status)
    assert set(results) == {SendStatus.SENT}  # nobody learns that the others asked
    assert len(mailer.sent) == 6
    with session_scope() as session:
        assert session.execute(select(CodeSend).where(CodeSend.mailed.is_(True))).scalars().all().__len__() == 6


def test_parallel_sends_in_one_conversation_respect_its_limit(database):
    mailer = ThreadSafeMailer()
    verifier = Verifier(SECRET, mailer)
    results = in_parallel(40, lambda n: verifier.request_code("c1", f"user{n}@example.org").status)
    assert results.count(SendStatus.SENT) == 3 and results.count(SendStatus.RATE_LIMITED) == 37
    assert len(mailer.sent) == 3


def test_parallel_failed_sends_release_their_slots(database):
    mailer = ThreadSafeMailer()
    mailer.fail = True
    verifier = Verifier(SECRET, mailer)
    results = in_parallel(20, lambda n: verifier.request_code("c1", ADDRESS).status)
    # SENT: held back (the reply never says) while two failing sends of this client held its slots.
    assert set(results) <= {SendStatus.MAIL_FAILED, SendStatus.RATE_LIMITED, SendStatus.SENT}
    assert SendStatus.MAIL_FAILED in results
    mailer.fail = False
    assert verifier.request_code("c1", ADDRESS).status is SendStatus.SENT and len(mailer.sent) == 1

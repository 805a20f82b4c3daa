"""Issue 23, findings 1 and 3: limits per address that a crowd of conversations and
networks cannot share out among themselves.

Finding 1: every wrong code typed for an address counts against one budget for that
address (10 in 24 hours by default), whatever the conversation, channel or network.
Past it no code for the address verifies, not even the right one, and the owner
gets one mail. Finding 3: one network cannot fill the address's mail window.

These tests use the real Verifier and database; statuses are compared by value so
that on the code before the change they fail on behaviour, not on a missing name.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from imago_core.identity.codes import CheckStatus, SendStatus, Verifier, client_network
from tests.test_verification import ADDRESS, SECRET, Clock, RecordingMailer, wrong

NOTICE_SUBJECT = "locked"  # the owner's notice says so in its subject (imago_core/templates)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def mailer():
    return RecordingMailer()


@pytest.fixture
def verifier(isolated_env, mailer, clock):
    return Verifier(SECRET, mailer, clock=clock)


def network(n: int) -> str:
    """A distinct client network per n: IPv6 /64s and IPv4 /24s, alternately."""
    return f"2001:db8:{n:x}::1" if n % 2 else f"198.18.{n}.7"


def notices(mailer) -> list:
    return [m for m in mailer.sent if m[0] == ADDRESS and NOTICE_SUBJECT in m[1].lower()]


def code_mails(mailer) -> list:
    return [m for m in mailer.sent if NOTICE_SUBJECT not in m[1].lower()]


def spend_budget(verifier, mailer, clock, guesses: int = 10, start: int = 0) -> None:
    """Wrong codes for ADDRESS from `guesses` conversations on as many networks."""
    for n in range(start, start + guesses):
        verifier.request_code(f"attacker-{n}", ADDRESS, network(n))
        # The code is unknown to the attacker; any 6 digits but the real one (when mailed).
        mailed = code_mails(mailer)
        typed = wrong(re.search(r"\b(\d{6})\b", mailed[-1][2]).group(1)) if mailed else "000000"
        result = verifier.check_code(f"attacker-{n}", ADDRESS, typed)
        assert result.status is not CheckStatus.VERIFIED
        clock.advance(seconds=20)  # the whole attack fits in one code's lifetime


def test_right_code_does_not_verify_once_the_address_budget_is_spent(verifier, mailer, clock):
    # The code the attacker will "guess" right at the end: asked for before the attack.
    verifier.request_code("lucky", ADDRESS, "203.0.113.9")
    code = mailer.last_code()
    spend_budget(verifier, mailer, clock)  # 10 wrong codes, 10 conversations, 10 networks
    result = verifier.check_code("lucky", ADDRESS, code)
    assert result.status is not CheckStatus.VERIFIED, "a stranger verified as the address's owner"
    assert result.status.value == "address_locked"
    assert verifier.verified_email("lucky") is None
    # Nor can a new code be had for it: the visitor is told, and no code is mailed.
    before = len(code_mails(mailer))
    assert verifier.request_code("fresh", ADDRESS, "192.0.2.44").status.value == "address_locked"
    assert len(code_mails(mailer)) == before


def test_nine_wrong_codes_leave_the_owner_able_to_verify(verifier, mailer, clock):
    spend_budget(verifier, mailer, clock, guesses=9)
    clock.advance(minutes=15)
    verifier.request_code("owner", ADDRESS, "203.0.113.9")
    assert verifier.check_code("owner", ADDRESS, mailer.last_code()).status is CheckStatus.VERIFIED


def test_the_budget_recovers_after_the_window(verifier, mailer, clock):
    spend_budget(verifier, mailer, clock)
    clock.advance(hours=23)
    locked = verifier.request_code("owner", ADDRESS, "203.0.113.9")
    assert locked.status.value == "address_locked"
    assert locked.retry_at == clock.now + timedelta(hours=1) - timedelta(seconds=200)  # the first wrong code leaves
    clock.advance(hours=1)  # 24 hours after the first wrong code: that one no longer counts
    assert verifier.request_code("owner", ADDRESS, "203.0.113.9").status is SendStatus.SENT
    assert verifier.check_code("owner", ADDRESS, mailer.last_code()).status is CheckStatus.VERIFIED


def test_the_budget_is_per_canonical_address(verifier, mailer, clock):
    spend_budget(verifier, mailer, clock)
    # A +tag or capitals name the same mailbox: the same budget.
    assert verifier.request_code("tagged", "Jane.Doe+x@Example.org", "203.0.113.9").status.value == "address_locked"
    # Someone else's address is not affected.
    verifier.request_code("other", "someone@example.org", "203.0.113.10")
    assert verifier.check_code("other", "someone@example.org", mailer.last_code()).status is CheckStatus.VERIFIED


def test_the_owner_gets_one_mail_however_long_the_attack_goes_on(verifier, mailer, clock):
    spend_budget(verifier, mailer, clock)
    assert len(notices(mailer)) == 1
    to, subject, body = notices(mailer)[0]
    assert "support@Imagotechs.com" in body  # how to reach the team (PRIVACY_TEAM_EMAIL)
    assert not re.search(r"\b\d{6}\b", body)  # no code, nothing that looks like one
    assert "198.18" not in body and "2001:db8" not in body  # nothing about who guessed
    # The attack goes on all day, from new conversations and networks: no second mail.
    for hour in range(1, 23):
        clock.advance(hours=1)
        spend_budget(verifier, mailer, clock, guesses=3, start=100 * hour)
    assert len(notices(mailer)) == 1


def test_the_notice_goes_to_the_canonical_address_whatever_variant_was_guessed(verifier, mailer, clock):
    for n in range(10):
        variant = f"Jane.Doe+guess{n}@Example.org"
        verifier.request_code(f"attacker-{n}", variant, network(n))
        verifier.check_code(f"attacker-{n}", variant, "000000")
    assert [m[0] for m in mailer.sent if NOTICE_SUBJECT in m[1].lower()] == [ADDRESS]


def test_a_held_back_code_counts_against_the_budget(verifier, mailer, clock):
    verifier.request_code("lucky", ADDRESS, "203.0.113.9")  # mailed: the code to try at the end
    code = mailer.last_code()
    # Fill the address's mail window: the codes after that are created but not mailed.
    n = 0
    while True:
        before = len(mailer.sent)
        verifier.request_code(f"fill-{n}", ADDRESS, network(n))
        n += 1
        if len(mailer.sent) == before:
            break
        assert n < 50
    mailed = len(mailer.sent)
    # Ten wrong codes, every one typed against a code whose mail was held back.
    held = [f"fill-{n - 1}"] + [f"held-{k}" for k in range(9)]
    for k, conversation in enumerate(held[1:]):
        verifier.request_code(conversation, ADDRESS, network(60 + k))
    assert len(mailer.sent) == mailed, "a held-back code was mailed after all"
    for conversation in held:
        assert verifier.check_code(conversation, ADDRESS, "000000").status is not CheckStatus.VERIFIED
    result = verifier.check_code("lucky", ADDRESS, code)
    assert result.status is not CheckStatus.VERIFIED, "guesses at held-back codes did not count"
    assert result.status.value == "address_locked"


def test_the_failure_budget_keeps_no_address_or_code(verifier, mailer, clock):
    from imago_core.storage.db import get_engine

    spend_budget(verifier, mailer, clock)
    with get_engine().connect() as connection:
        dump = " ".join(str(row) for table in ("address_failures", "address_lock_notices")
                        for row in connection.exec_driver_sql(f"select * from {table}"))
    assert dump and ADDRESS not in dump and "example.org" not in dump


# -- finding 3: a ceiling per (address, client network) beneath the global one -------------

def test_client_network_is_the_ipv4_slash_24_or_the_ipv6_slash_64():
    assert client_network("198.51.100.7") == "198.51.100.0/24"
    assert client_network("::ffff:198.51.100.7") == "198.51.100.0/24"
    assert client_network("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert client_network("not-an-ip") is None and client_network(None) is None


def test_two_attacker_networks_cannot_stop_the_owners_first_send(verifier, mailer, clock):
    for n in range(8):  # two networks, asking again and again within the owner's window
        for attacker in ("198.51.100.7", "2001:db8:bad::1"):
            verifier.request_code(f"{attacker}-{n}", ADDRESS, attacker)
        clock.advance(minutes=1)
    before = len(mailer.sent)
    assert verifier.request_code("owner", ADDRESS, "203.0.113.9").status is SendStatus.SENT
    assert len(mailer.sent) == before + 1 and mailer.sent[-1][0] == ADDRESS, "the owner's code was held back"
    assert verifier.check_code("owner", ADDRESS, mailer.last_code()).status is CheckStatus.VERIFIED


def test_one_network_cannot_fill_the_address_window(verifier, mailer, clock):
    for n in range(6):
        verifier.request_code(f"c{n}", ADDRESS, f"198.51.100.{n + 1}")  # one /24, many hosts
    from_one_network = len(mailer.sent)
    assert from_one_network == 2
    for n in range(20):  # and a crowd of networks is still held to the global ceiling
        verifier.request_code(f"crowd-{n}", ADDRESS, network(n))
    assert len(mailer.sent) == 6


def test_a_rocketchat_user_is_one_client_for_the_limits(verifier, mailer, clock):
    """Rocket.Chat conversations carried no client key, so no per-client limit applied
    to them; the channel now gives the user or visitor id (client_address.rocketchat_client)."""
    from imago_core.identity.client_address import rocketchat_client

    client = rocketchat_client("VISITORID")
    assert client_network(client) == "rocketchat-user:VISITORID"
    assert client_network("rocketchat-user:" + "x" * 500) is None and rocketchat_client(None) is None
    for n in range(10):  # CODE_SENDS_PER_CLIENT_HOUR, across conversations and addresses
        assert verifier.request_code(f"rc:room-{n}", f"user{n}@example.org", client).status is SendStatus.SENT
    assert verifier.request_code("rc:room-x", "userx@example.org", client).status is SendStatus.RATE_LIMITED
    assert verifier.request_code("rc:room-y", "usery@example.org", rocketchat_client("OTHER")).status \
        is SendStatus.SENT


def test_the_daily_purge_removes_budget_rows_once_out_of_the_window(tracker_db, mailer, clock):
    from imago_core.storage.models import AddressFailure, AddressLockNotice
    from imago_core.storage.db import session_scope
    from imago_core.requests.retention import purge

    verifier = Verifier(SECRET, mailer, clock=clock)
    spend_budget(verifier, mailer, clock)
    with session_scope() as session:
        assert session.query(AddressFailure).count() == 10 and session.query(AddressLockNotice).count() == 1
    assert purge(now=clock.now + timedelta(hours=23)).removed["address failures"] == 0
    report = purge(now=clock.now + timedelta(hours=24))
    assert report.removed["address failures"] == 10 and report.removed["address lock notices"] == 1

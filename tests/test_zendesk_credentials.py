"""Issue 21, section 2: Zendesk credentials that die quietly, and the older shape of a
suspended requester. The stand-in (tests/support/fake_zendesk.py) expires tokens as Zendesk
documents it, on a clock the test moves (no sleeping): access tokens 30 minutes, refresh
tokens 30 days, an API token unused for 30 days deactivated (since 28 July 2026).
"""
from __future__ import annotations

import argparse
import json
import logging

import pytest

from imago_core.service import JOBS
from imago_core.cli.staff import cmd_list
from imago_core.delivery.tickets import zendesk_health
from imago_core.delivery.tickets.base import BackendAuthError, RequesterSuspendedError, TicketDraft
from imago_core.delivery.tickets.zendesk import ZendeskBackend
from imago_core.delivery.tickets.zendesk_auth import ApiTokenAuth, OAuthClientCredentials, OAuthTokenPair
from tests.support.fake_zendesk import FakeClock, FakeZendesk

DAY = 24 * 60 * 60
EMAIL = "ann.visitor@example.org"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def zendesk(clock):
    server = FakeZendesk(clock=clock).start()
    try:
        yield server
    finally:
        server.stop()


def draft(reference: str = "PRV-7K3M9Q", email: str = EMAIL) -> TicketDraft:
    return TicketDraft(reference=reference, request_type="deletion", requester_email=email,
                       subject="Deletion request", body="Please delete my data.", due_at=None, tags=[])


def pair_backend(zendesk: FakeZendesk, clock, token_file) -> ZendeskBackend:
    access, refresh = zendesk.issue_token_pair()
    auth = OAuthTokenPair(access, refresh, zendesk.client_id, zendesk.client_secret, zendesk.scope,
                          token_file, clock=clock)
    return ZendeskBackend(url=zendesk.url, auth=auth)


def api_token_backend(zendesk: FakeZendesk) -> ZendeskBackend:
    return ZendeskBackend(url=zendesk.url, auth=ApiTokenAuth(zendesk.email, zendesk.api_token))


# -- the stand-in lets credentials lapse as Zendesk does -------------------------------------


def test_stand_in_lets_a_refresh_token_lapse_after_a_quiet_month(zendesk, clock, tmp_path):
    backend = pair_backend(zendesk, clock, tmp_path / "pair.json")
    backend.create(draft("PRV-AAAAAA"))
    clock.advance(31 * DAY)  # nothing delivered: the access token (30 min) and refresh token (30 days) lapse
    with pytest.raises(BackendAuthError, match="refresh refused"):
        backend.create(draft("PRV-BBBBBB"))


def test_stand_in_deactivates_an_api_token_unused_for_30_days(zendesk, clock):
    backend = api_token_backend(zendesk)
    clock.advance(29 * DAY)
    backend.create(draft("PRV-AAAAAA"))  # used on day 29: the 30 days start again
    clock.advance(30 * DAY)
    with pytest.raises(BackendAuthError):
        backend.create(draft("PRV-BBBBBB"))
    assert zendesk.api_token_deactivated


# -- the daily check keeps them alive, and names what it cannot fix --------------------------------


def test_daily_check_keeps_a_token_pair_alive_through_a_quiet_month(isolated_env, zendesk, clock, tmp_path):
    backend = pair_backend(zendesk, clock, tmp_path / "pair.json")

    for _day in range(45):  # at start, then once a day; nobody files a request
        health = zendesk_health.check_once(lambda: backend)
        assert health.ok, health.problem
        clock.advance(DAY)

    backend.create(draft())  # the first request after six quiet weeks is delivered
    assert len(zendesk.tickets) == 1


def test_first_check_renews_a_configured_pair_and_stores_when_its_refresh_token_lapses(
        isolated_env, zendesk, clock, tmp_path):
    token_file = tmp_path / "pair.json"
    backend = pair_backend(zendesk, clock, token_file)  # as configured: its refresh expiry is unknown

    health = zendesk_health.check_once(lambda: backend)

    assert health.ok and health.renewed_refresh_token
    stored = json.loads(token_file.read_text())
    assert stored["refresh_expires_at"] == pytest.approx(clock() + 30 * DAY, abs=5)
    clock.advance(DAY)
    assert zendesk_health.check_once(lambda: backend).renewed_refresh_token is False  # 29 days left


def test_keep_alive_renews_a_refresh_token_inside_the_margin(zendesk, clock, tmp_path):
    backend = pair_backend(zendesk, clock, tmp_path / "pair.json")
    auth = backend.auth
    auth.keep_alive(backend._http(), backend.base_url, 5, renew_within=3 * DAY)  # learns the expiry
    lapses = auth.refresh_expires_at
    clock.advance(26 * DAY)
    assert auth.keep_alive(backend._http(), backend.base_url, 5, renew_within=3 * DAY) is False  # 4 days left
    clock.advance(DAY + 60)
    assert auth.keep_alive(backend._http(), backend.base_url, 5, renew_within=3 * DAY) is True
    assert auth.refresh_expires_at > lapses


def test_daily_check_keeps_an_api_token_from_being_deactivated(isolated_env, zendesk, clock):
    backend = api_token_backend(zendesk)
    for _day in range(40):
        assert zendesk_health.check_once(lambda: backend).ok
        clock.advance(DAY)
    backend.create(draft())
    assert not zendesk.api_token_deactivated


def test_check_names_refused_credentials_in_the_log_and_in_imago_requests_list(
        isolated_env, zendesk, clock, caplog, capsys):
    backend = api_token_backend(zendesk)
    clock.advance(31 * DAY)  # deactivated before the assistant started

    with caplog.at_level(logging.INFO, logger="imago_core.delivery.tickets.zendesk_health"):
        health = zendesk_health.check_once(lambda: backend)
        zendesk_health.check_once(lambda: backend)  # the next day: still broken, recorded once

    assert not health.ok and "refuses the credentials" in health.problem
    assert "ATTENTION Zendesk" in caplog.text and zendesk.api_token not in caplog.text
    cmd_list(argparse.Namespace(status=None, type=None, overdue=False, email=None, format="table"))
    assert f"ATTENTION ticket backend: {health.problem}" in capsys.readouterr().out

    zendesk_backend = ZendeskBackend(url=zendesk.url, auth=OAuthClientCredentials(
        zendesk.client_id, zendesk.client_secret, zendesk.scope, clock=clock))  # the admin moves to OAuth
    with caplog.at_level(logging.INFO, logger="imago_core.delivery.tickets.zendesk_health"):
        assert zendesk_health.check_once(lambda: zendesk_backend).ok
    assert zendesk_health.current_attention() is None
    assert "acting as user 90001 (role admin)" in caplog.text


def test_check_names_a_user_that_cannot_create_tickets(isolated_env, zendesk, clock):
    zendesk.set_user_role("end-user")
    backend = ZendeskBackend(url=zendesk.url, auth=OAuthClientCredentials(
        zendesk.client_id, zendesk.client_secret, zendesk.scope, clock=clock))
    health = zendesk_health.check_once(lambda: backend)
    assert not health.ok and "role end-user" in health.problem


def test_check_runs_at_start_of_the_action_server_when_zendesk_is_the_backend(isolated_env, monkeypatch):
    from imago_core.settings import reset_settings_cache

    [job] = [j for j in JOBS if j.name == "zendesk-credentials-check"]
    assert job.wanted() is False  # the local backend: nothing to check
    monkeypatch.setenv("TICKET_BACKEND", "zendesk")
    reset_settings_cache()
    assert job.wanted() is True


def test_a_check_against_other_backends_does_nothing():
    assert zendesk_health.check_once(lambda: None) is None


# -- a suspended requester, older error shape ------------------------------------------------------


def test_suspended_requester_in_the_older_error_shape_is_recognised(zendesk, clock):
    zendesk.suspend_user(EMAIL)
    zendesk.use_older_suspended_shape()  # details.requester = [{"description": "... is suspended."}]
    backend = ZendeskBackend(url=zendesk.url, auth=OAuthClientCredentials(
        zendesk.client_id, zendesk.client_secret, zendesk.scope, clock=clock))

    with pytest.raises(RequesterSuspendedError) as caught:  # before: PermanentBackendError, request FAILED
        backend.create(draft())
    assert caught.value.details["requester"][0]["error"] == ""  # the stand-in sent no `error`
    assert caught.value.details["requester"][0]["description"] == "Requester: <value sent> is suspended."


def test_deploy_readme_checks_which_user_the_integration_acts_as():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "deploy" / "README.md").read_text(encoding="utf-8")
    zendesk = " ".join(readme.split("## Zendesk", 1)[1].split("\n## ", 1)[0].split())
    assert "/api/v2/users/me.json" in zendesk and '"id": null' in zendesk
    assert "client-credentials grant is the default" in zendesk


def test_the_job_checks_at_start_and_again_soon_after_a_problem(isolated_env, zendesk, clock):
    backend = api_token_backend(zendesk)
    clock.advance(31 * DAY)  # the token is already deactivated
    waits = []

    class Stop:  # records each wait instead of sleeping; stops after the second check
        def is_set(self):
            return len(waits) >= 2

        def wait(self, seconds):
            waits.append(seconds)

    zendesk_health.run_daily(Stop(), backend_factory=lambda: backend)
    assert waits == [15 * 60, 15 * 60]  # a problem: looked at again in 15 minutes, not tomorrow

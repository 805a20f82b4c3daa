"""ZendeskBackend against tests/support/fake_zendesk.py, a stand-in that follows Zendesk's docs:
OAuth tokens that expire, two-hour idempotency keys, 422 details, 429 Retry-After.
This file: OAuth (client credentials, token pairs, renewal, refusals, secrets kept out
of the log), the deprecated API token, and building the backend from the settings.
"""
from __future__ import annotations

import json
import logging
import os
import stat
import threading

import pytest
import requests

from imago_core.settings import ConfigError
from imago_core.delivery.tickets.base import (
    AUTH_RETRY_SECONDS,
    BackendAuthError,
    PermanentBackendError,
    TicketRef,
)
from imago_core.delivery.tickets.factory import create_backend, describe_backend
from imago_core.delivery.tickets.zendesk import ZendeskBackend
from imago_core.delivery.tickets.zendesk_auth import OAuthTokenPair
from tests.support.fake_zendesk import FakeClock, FakeZendesk
from tests.support.fake_zendesk import fake_zendesk  # noqa: F401 - fixture
from tests.support.zendesk_backend import assert_no_personal_data, backend_for, draft


# --- OAuth ---------------------------------------------------------------------------


def test_one_access_token_serves_many_calls(fake_zendesk):
    backend = backend_for(fake_zendesk)
    backend.create(draft("PRV-AAAAAA"))
    backend.create(draft("PRV-BBBBBB"))
    backend.find_by_reference("PRV-AAAAAA")
    assert len(fake_zendesk.token_requests()) == 1


def test_token_is_renewed_before_it_expires():
    clock = FakeClock()
    server = FakeZendesk(access_ttl=600, clock=clock).start()
    try:
        backend = backend_for(server, clock=clock)
        backend.create(draft("PRV-AAAAAA"))
        clock.advance(600 - 30)  # inside the refresh margin: still valid, about to expire
        backend.create(draft("PRV-BBBBBB"))
        assert len(server.token_requests()) == 2
        assert all(r.status != 401 for r in server.requests), "the client waited for a 401"
    finally:
        server.stop()


def test_token_expiring_mid_run_is_renewed_on_401_and_the_call_goes_through(fake_zendesk):
    backend = backend_for(fake_zendesk)
    backend.create(draft("PRV-AAAAAA"))
    fake_zendesk.expire_access_tokens()  # the server says no before our clock does

    ref = backend.create(draft("PRV-BBBBBB"))

    assert [t["external_id"] for t in fake_zendesk.tickets] == ["PRV-AAAAAA", "PRV-BBBBBB"]
    assert ref.external_id == "2"
    statuses = [(r.path, r.status) for r in fake_zendesk.requests]
    assert statuses[-3:] == [("/api/v2/tickets.json", 401), ("/oauth/tokens", 200), ("/api/v2/tickets.json", 201)]


def test_token_pair_is_refreshed_and_the_new_pair_survives_a_restart(fake_zendesk, tmp_path):
    access, refresh = fake_zendesk.issue_token_pair()
    token_file = tmp_path / "zendesk-oauth.json"

    def pair_backend():
        auth = OAuthTokenPair(access, refresh, fake_zendesk.client_id, fake_zendesk.client_secret,
                              fake_zendesk.scope, token_file=token_file)
        return ZendeskBackend(url=fake_zendesk.url, timeout=5, auth=auth)

    backend = pair_backend()
    backend.create(draft("PRV-AAAAAA"))
    fake_zendesk.expire_access_tokens()
    backend.create(draft("PRV-BBBBBB"))

    (refresh_request,) = fake_zendesk.token_requests()
    assert refresh_request.body["grant_type"] == "refresh_token"
    assert refresh_request.body["refresh_token"] == refresh
    stored = json.loads(token_file.read_text())
    assert stored["refresh_token"] != refresh and stored["access_token"] != access
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    # The configured refresh token is spent (Zendesk invalidates the old pair) ...
    spent = requests.post(fake_zendesk.url + "/oauth/tokens", timeout=5, json={
        "grant_type": "refresh_token", "refresh_token": refresh, "client_id": fake_zendesk.client_id})
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
    # ... so a restarted process must use the stored pair.
    pair_backend().create(draft("PRV-CCCCCC"))
    assert len(fake_zendesk.tickets) == 3
    assert len(fake_zendesk.token_requests()) == 2  # no second refresh needed


def test_refused_refresh_token_waits_long_and_says_what_to_do(fake_zendesk):
    access, _ = fake_zendesk.issue_token_pair()
    auth = OAuthTokenPair(access, "zrt_not-a-valid-one", fake_zendesk.client_id, None, fake_zendesk.scope)
    backend = ZendeskBackend(url=fake_zendesk.url, timeout=5, auth=auth)
    fake_zendesk.expire_access_tokens()

    with pytest.raises(BackendAuthError) as caught:
        backend.create(draft())
    assert caught.value.retry_after == AUTH_RETRY_SECONDS

    message = str(caught.value)
    assert "invalid_grant" in message and "ZENDESK_REFRESH_TOKEN" in message
    assert "zrt_not-a-valid-one" not in message and access not in message


def test_wrong_client_secret_waits_long_and_is_not_repeated(fake_zendesk):
    backend = backend_for(fake_zendesk, secret="wrong-secret")
    with pytest.raises(BackendAuthError) as caught:
        backend.create(draft())
    # Transient (the queue recovers once the secret is fixed), but not retried soon.
    assert not isinstance(caught.value, PermanentBackendError) and caught.value.retry_after == AUTH_RETRY_SECONDS
    message = str(caught.value)
    assert "invalid_client" in message and "ZENDESK_CLIENT_SECRET" in message
    assert "wrong-secret" not in message
    assert_no_personal_data(caught.value)
    assert fake_zendesk.tickets == [] and fake_zendesk.creates() == []


def test_a_scope_the_client_may_not_grant_is_named():
    server = FakeZendesk(scopes="tickets:read").start()
    try:
        with pytest.raises(BackendAuthError) as caught:
            backend_for(server, scope="tickets:read tickets:write").create(draft())
        assert "invalid_scope" in str(caught.value) and "tickets:read tickets:write" in str(caught.value)
    finally:
        server.stop()


def test_two_processes_refreshing_the_same_pair_refresh_it_once(fake_zendesk, tmp_path):
    """Process A has the new pair from Zendesk but has not stored it yet when process B
    finds the access token expired: B must wait for A's pair, not spend the old refresh
    token again (Zendesk invalidated it, so B would be refused)."""
    access, refresh = fake_zendesk.issue_token_pair()

    def process():  # its own auth object and its own open file description for the lock
        return OAuthTokenPair(access, refresh, fake_zendesk.client_id, fake_zendesk.client_secret,
                              fake_zendesk.scope, token_file=tmp_path / "zendesk-oauth.json")

    first, second = process(), process()
    fake_zendesk.expire_access_tokens()
    got_pair, release = threading.Event(), threading.Event()
    store = first._store

    def slow_store():
        got_pair.set()
        release.wait(5)
        store()

    first._store = slow_store
    results = {}

    def run(name, auth):
        try:
            results[name] = ZendeskBackend(url=fake_zendesk.url, timeout=5, auth=auth).create(
                draft(f"PRV-{name * 6}"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[name] = exc

    threads = {"A": threading.Thread(target=run, args=("A", first)),
               "B": threading.Thread(target=run, args=("B", second))}
    threads["A"].start()
    assert got_pair.wait(5)
    threads["B"].start()
    threads["B"].join(0.5)  # B gets this far on its own; with the lock it waits for A
    release.set()
    for thread in threads.values():
        thread.join(10)

    assert all(isinstance(r, TicketRef) for r in results.values()), results
    assert [r.body["grant_type"] for r in fake_zendesk.token_requests()] == ["refresh_token"]
    assert first._access == second._access


def test_tokens_and_secrets_never_reach_the_log(fake_zendesk, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    access, refresh = fake_zendesk.issue_token_pair()
    pair = OAuthTokenPair(access, refresh, fake_zendesk.client_id, fake_zendesk.client_secret, fake_zendesk.scope,
                          token_file=tmp_path / "t.json")
    backends = [ZendeskBackend(url=fake_zendesk.url, timeout=5, auth=pair), backend_for(fake_zendesk)]
    for backend in backends:
        backend.create(draft())
        fake_zendesk.expire_access_tokens()
        backend.find_by_reference("PRV-7K3M9Q")
    stored = json.loads((tmp_path / "t.json").read_text())
    issued = [r.response_headers for r in fake_zendesk.token_requests()]
    secrets_seen = [access, refresh, stored["access_token"], stored["refresh_token"], fake_zendesk.client_secret]
    assert len(issued) >= 3
    for secret in secrets_seen:
        assert secret not in caplog.text
        assert all(secret not in repr(b) and secret not in repr(b.auth) for b in backends)
    assert "new access token" in caplog.text  # the renewals themselves are logged


# --- the deprecated API token ---------------------------------------------------------------


def test_api_token_still_works_until_2027_with_a_warning(fake_zendesk, caplog):
    caplog.set_level(logging.WARNING)
    env = {"TICKET_BACKEND": "zendesk", "ZENDESK_URL": fake_zendesk.url, "ZENDESK_EMAIL": fake_zendesk.email,
           "ZENDESK_TOKEN": fake_zendesk.api_token, "TICKET_ALLOW_HTTP_LOOPBACK": "true"}
    backend = create_backend(env)
    assert "30 April 2027" in caplog.text and "ZENDESK_CLIENT_ID" in caplog.text
    assert "DEPRECATED" in describe_backend(env) and "30 April 2027" in describe_backend(env)
    backend.create(draft())
    assert fake_zendesk.creates()[0].headers["authorization"].startswith("Basic ")
    assert fake_zendesk.api_token not in caplog.text


def test_wrong_api_token_waits_long_for_a_person(fake_zendesk):
    backend = ZendeskBackend(email=fake_zendesk.email, api_token="wrong-token", url=fake_zendesk.url, timeout=5)
    with pytest.raises(BackendAuthError) as caught:
        backend.create(draft())
    assert caught.value.retry_after == AUTH_RETRY_SECONDS
    assert "401" in str(caught.value) and "ZENDESK_TOKEN" in str(caught.value)
    assert "wrong-token" not in str(caught.value)
    assert fake_zendesk.tickets == []


def test_base_url_from_subdomain():
    backend = ZendeskBackend(email="agent@imago.test", api_token="secret-token", subdomain="imago")
    assert backend.base_url == "https://imago.zendesk.com"
    assert "secret-token" not in repr(backend)


# --- factory ------------------------------------------------------------------------------


def zendesk_env(server: FakeZendesk, **extra) -> dict:
    env = {"TICKET_BACKEND": "zendesk", "ZENDESK_URL": server.url, "ZENDESK_CLIENT_ID": server.client_id,
           "ZENDESK_CLIENT_SECRET": server.client_secret, "TICKET_TIMEOUT": "3",
           "TICKET_ALLOW_HTTP_LOOPBACK": "true"}  # the fake speaks http on loopback
    env.update(extra)
    return env


def test_factory_builds_zendesk_with_client_credentials(fake_zendesk):
    env = zendesk_env(fake_zendesk)
    backend = create_backend(env)
    assert isinstance(backend, ZendeskBackend) and backend.auth.mode == "client_credentials"
    assert backend.timeout == 3.0
    backend.create(draft())
    assert len(fake_zendesk.tickets) == 1
    description = describe_backend(env)
    assert fake_zendesk.url in description and "client credentials" in description
    assert "tickets:read tickets:write" in description
    assert fake_zendesk.client_secret not in description


def test_factory_builds_zendesk_with_a_token_pair(fake_zendesk, tmp_path):
    access, refresh = fake_zendesk.issue_token_pair()
    env = zendesk_env(fake_zendesk, ZENDESK_CLIENT_SECRET="", ZENDESK_ACCESS_TOKEN=access,
                      ZENDESK_REFRESH_TOKEN=refresh, ZENDESK_TOKEN_FILE=str(tmp_path / "pair.json"))
    backend = create_backend(env)
    assert backend.auth.mode == "token_pair"
    backend.create(draft())
    assert access not in describe_backend(env) and refresh not in describe_backend(env)


def test_factory_names_every_missing_zendesk_variable():
    with pytest.raises(ConfigError) as caught:
        create_backend({"TICKET_BACKEND": "zendesk", "ZENDESK_CLIENT_ID": "x"})
    message = str(caught.value)
    assert "ZENDESK_SUBDOMAIN" in message and "ZENDESK_CLIENT_SECRET" in message
    assert "ZENDESK_CLIENT_ID," not in message
    with pytest.raises(ConfigError, match="ZENDESK_CLIENT_ID and ZENDESK_CLIENT_SECRET"):
        create_backend({"TICKET_BACKEND": "zendesk", "ZENDESK_SUBDOMAIN": "imago"})
    with pytest.raises(ConfigError, match="ZENDESK_AUTH"):
        create_backend({"TICKET_BACKEND": "zendesk", "ZENDESK_SUBDOMAIN": "imago", "ZENDESK_AUTH": "password"})


def test_factory_local_means_no_backend():
    assert create_backend({"TICKET_BACKEND": "local"}) is None
    assert create_backend({}) is None
    assert "local" in describe_backend({})


def test_factory_rejects_unknown_backend_and_bad_timeout():
    with pytest.raises(ConfigError, match="TICKET_BACKEND"):
        create_backend({"TICKET_BACKEND": "jira"})
    with pytest.raises(ConfigError, match="TICKET_TIMEOUT"):
        create_backend({"TICKET_BACKEND": "zendesk", "ZENDESK_SUBDOMAIN": "x", "ZENDESK_CLIENT_ID": "a",
                        "ZENDESK_CLIENT_SECRET": "t", "TICKET_TIMEOUT": "soon"})


def test_factory_reads_settings_once_and_keeps_the_backend(monkeypatch, isolated_env):
    from imago_core.settings import get_settings, reset_settings_cache

    monkeypatch.setenv("TICKET_BACKEND", "zendesk")
    monkeypatch.setenv("ZENDESK_SUBDOMAIN", "imago")
    monkeypatch.setenv("ZENDESK_CLIENT_ID", "imago_privacy_assistant")
    monkeypatch.setenv("ZENDESK_CLIENT_SECRET", "secret-value")
    reset_settings_cache()
    assert get_settings().zendesk.auth_mode == "client_credentials"
    assert "secret-value" not in repr(get_settings())
    backend = create_backend()
    assert isinstance(backend, ZendeskBackend) and backend.base_url == "https://imago.zendesk.com"
    assert create_backend() is backend  # one backend (and one access token) per configuration
    assert "secret-value" not in describe_backend()
    reset_settings_cache()
    assert create_backend() is not backend

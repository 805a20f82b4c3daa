"""A replica that sees every visitor as one untrusted peer says so (issue 23, finding 2).

Behind an ingress that is not in TRUSTED_PROXIES every visitor is the ingress pod and
all of them share one client's limits; extensions/peer_watch.py logs one warning
naming the peer and the setting after the first requests."""
from __future__ import annotations

import ipaddress
import logging
from types import SimpleNamespace

import pytest

from extensions import peer_watch
from extensions.peer_watch import PeerWatch

INGRESS_POD = "10.244.1.7"


NONE_TRUSTED = []
INGRESS_NETWORK = [ipaddress.ip_network("10.244.0.0/16")]


def warnings_of(caplog):
    return [r for r in caplog.records if r.name == "extensions.peer_watch" and r.levelno == logging.WARNING]


def test_all_traffic_from_one_untrusted_peer_is_warned_about_once(caplog):
    watch = PeerWatch(first=5)
    with caplog.at_level(logging.WARNING, logger="extensions.peer_watch"):
        for _ in range(4):
            watch.observe(INGRESS_POD, NONE_TRUSTED)
        assert not warnings_of(caplog), "judged before the first 5 requests were in"
        for _ in range(20):
            watch.observe(INGRESS_POD, NONE_TRUSTED)
    [warning] = warnings_of(caplog)
    message = warning.getMessage()
    assert INGRESS_POD in message and "TRUSTED_PROXIES" in message and "first 5" in message
    assert watch.warned and watch.done


def test_two_peers_mean_real_clients_and_no_warning(caplog):
    watch = PeerWatch(first=5)
    with caplog.at_level(logging.WARNING, logger="extensions.peer_watch"):
        watch.observe(INGRESS_POD, NONE_TRUSTED)
        watch.observe("203.0.113.9", NONE_TRUSTED)
        for _ in range(20):
            watch.observe(INGRESS_POD, NONE_TRUSTED)
    assert not warnings_of(caplog) and watch.done and not watch.warned


def test_a_trusted_proxy_as_the_only_peer_is_fine(caplog):
    watch = PeerWatch(first=3)
    with caplog.at_level(logging.WARNING, logger="extensions.peer_watch"):
        for _ in range(10):
            watch.observe(INGRESS_POD, INGRESS_NETWORK)
    assert not warnings_of(caplog) and watch.done


def test_spellings_of_one_address_are_one_peer(caplog):
    watch = PeerWatch(first=3)
    with caplog.at_level(logging.WARNING, logger="extensions.peer_watch"):
        for peer in ("2001:db8::1", "[2001:db8::1]", "2001:DB8:0::1"):
            watch.observe(peer, NONE_TRUSTED)
    assert len(warnings_of(caplog)) == 1


def test_the_watch_never_breaks_a_request(monkeypatch):
    watch = PeerWatch(first=2)
    monkeypatch.setattr(peer_watch, "WATCH", watch)
    peer_watch.observe(INGRESS_POD, [None])  # an unusable trusted list: must not raise
    assert watch.done


def test_first_must_be_positive():
    with pytest.raises(ValueError):
        PeerWatch(first=0)


@pytest.fixture
def fresh_watch(monkeypatch, isolated_env):
    """The process-wide watch, fresh, reading TRUSTED_PROXIES from the settings."""
    from imago_core.settings import reset_settings_cache

    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    reset_settings_cache()
    watch = PeerWatch(first=3)
    monkeypatch.setattr(peer_watch, "WATCH", watch)
    return watch


def test_the_socketio_channel_reports_the_direct_peer(fresh_watch, caplog):
    from extensions.channels.socketio import _client_address

    environ = {"sanic.request": SimpleNamespace(ip=INGRESS_POD), "HTTP_X_FORWARDED_FOR": "198.51.100.4"}
    with caplog.at_level(logging.WARNING, logger="extensions.peer_watch"):
        for _ in range(3):
            _client_address(environ)
    # The direct peer is what is judged, not the (unbelieved) forwarded address.
    [warning] = warnings_of(caplog)
    assert INGRESS_POD in warning.getMessage() and "198.51.100.4" not in warning.getMessage()


def test_the_staff_console_reports_the_direct_peer(fresh_watch, monkeypatch, caplog):
    from imago_core.settings import reset_settings_cache
    from extensions.channels.staff import StaffAuth

    monkeypatch.setenv("TRUSTED_PROXIES", "10.244.0.0/16")  # the ingress network is trusted now
    reset_settings_cache()
    auth = StaffAuth({"alice": "a" * 40})
    request = SimpleNamespace(ip=INGRESS_POD, headers={"X-Forwarded-For": "198.51.100.4"})
    with caplog.at_level(logging.WARNING, logger="extensions.peer_watch"):
        for _ in range(3):
            auth.check(request)
    assert fresh_watch.seen == 1 and fresh_watch.done and not warnings_of(caplog)


async def test_the_rest_channel_reports_every_caller(fresh_watch, caplog):
    from extensions.channels.rest import HardenedRestInput

    async def never_called(message):
        raise AssertionError("a refused call reached the assistant")

    blueprint = HardenedRestInput(token="t" * 40).blueprint(never_called)
    [receive] = [r.handler for r in blueprint._future_routes if r.uri == "/webhook"]
    request = SimpleNamespace(ip=INGRESS_POD, headers={"X-Forwarded-For": "198.51.100.4"}, body=b"{}")
    with caplog.at_level(logging.WARNING, logger="extensions.peer_watch"):
        for _ in range(3):
            assert (await receive(request)).status == 401  # refused, and still counted
    [warning] = warnings_of(caplog)
    assert INGRESS_POD in warning.getMessage()

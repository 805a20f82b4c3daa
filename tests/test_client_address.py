"""X-Forwarded-For is believed only from TRUSTED_PROXIES (issue 9, finding 5)."""
from __future__ import annotations

from imago_core.identity.client_address import resolve_client, trusted_networks

PROXIES = trusted_networks("10.0.0.0/8, ::1")


def test_header_from_an_untrusted_peer_is_ignored():
    assert resolve_client("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_trusted_proxy_chain_gives_the_first_untrusted_hop():
    # The client forged a first entry; the proxies appended the real one.
    assert resolve_client("10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.1", PROXIES) == "198.51.100.1"


def test_garbage_in_the_header_stops_at_the_last_trusted_hop():
    assert resolve_client("10.0.0.2", "not-an-ip", PROXIES) == "10.0.0.2"
    assert resolve_client(None, None, PROXIES) is None and trusted_networks("") == []

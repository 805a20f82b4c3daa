"""Warns when a replica's visitors all seem to be one client (issue 23, finding 2).

The per-client limits (code requests, staff-token failures) key on the client address
that the channels resolve (X-Forwarded-For believed only from TRUSTED_PROXIES). Behind
a proxy or an ingress that is not in TRUSTED_PROXIES, that address is the proxy's for
every visitor: the visitors share one budget, and a dozen code requests from anyone
lock everyone out for the hour. Nothing fails loudly when that happens, so each Rasa
process watches the direct peers (the socket's address, before X-Forwarded-For is
considered) of its first FIRST_REQUESTS visitor requests. If they all came from one
peer that is not trusted, it logs one warning naming that peer and the setting to fix,
then stops watching.

Two distinct peers, or one trusted peer, settle it at once without a warning: direct
visitors, or a proxy whose forwarded addresses are believed. The socket.io, REST and
staff channels call `observe(peer, trusted)` where they resolve the client address,
with the same trusted networks; the RocketChat webhook does not, since its one peer is
rightly the RocketChat server.
"""
from __future__ import annotations

import ipaddress
import logging
from typing import Optional, Sequence, Set, Union

logger = logging.getLogger(__name__)

# Enough requests that a real crowd would show more than one peer, few enough that
# the warning comes within the first minutes of traffic after a start.
FIRST_REQUESTS = 50

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class PeerWatch:
    """Counts distinct direct peers over the first `first` requests of a process."""

    def __init__(self, first: int = FIRST_REQUESTS):
        if first < 1:
            raise ValueError("PeerWatch needs at least one request to judge")
        self.first = first
        self.seen = 0
        self.peers: Set[str] = set()
        self.done = False  # decided: nothing more is counted or logged
        self.warned = False

    def observe(self, peer: Optional[str], trusted: Sequence[Network]) -> None:
        if self.done:
            return
        self.seen += 1
        self.peers.add(_normalised(peer))
        if len(self.peers) > 1:
            self.done = True  # more than one client: the limits are per visitor
            return
        only = next(iter(self.peers))
        if _is_trusted(only, trusted):
            self.done = True  # a trusted proxy: X-Forwarded-For names the visitors
            return
        if self.seen >= self.first:
            self.done = True
            self.warned = True
            logger.warning(
                "the first %d visitor requests to this server all came from one peer, %s, which is not in "
                "TRUSTED_PROXIES: if it is a proxy, load balancer or ingress, every visitor counts as that "
                "one client, and the per-client limits (code requests, staff-token failures) are shared by "
                "all of them. Set TRUSTED_PROXIES to its address or network (deploy/README.md).",
                self.seen, only,
            )


def _is_trusted(peer: str, trusted: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False  # no usable peer address: it cannot be a configured proxy either
    return any(address in network for network in trusted)


def _normalised(peer: Optional[str]) -> str:
    text = (peer or "").strip().strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text or "(unknown)"


WATCH = PeerWatch()  # one per process: each replica judges its own traffic


def observe(peer: Optional[str], trusted: Sequence[Network]) -> None:
    """Called by the input channels with each visitor request's direct peer and the
    networks in TRUSTED_PROXIES (as they parsed them to resolve the client)."""
    try:
        WATCH.observe(peer, trusted)
    except Exception:  # noqa: BLE001 - a diagnostic must never break a visitor's request
        logger.exception("peer watch failed; it is switched off")
        WATCH.done = True

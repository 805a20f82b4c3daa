"""Who is on the other end of a request, for the per-client send limits.

Input channels (extensions/channels) resolve the address of the visitor's client and
put it in the message metadata under CLIENT_ADDRESS_KEY, overwriting anything the
client sent there; the request form reads it back. `X-Forwarded-For` is believed
only when the direct peer is a proxy listed in TRUSTED_PROXIES, and then only up to
the first hop that is not one of them.
"""
from __future__ import annotations

import ipaddress
from typing import List, Optional, Sequence, Union

from imago_core.identity.safe_text import strip_controls

CLIENT_ADDRESS_KEY = "imago_client_address"
MAX_MESSAGE_CHARS = 2000
TOO_LONG_REPLY = (
    f"Sorry, that message is too long for me (over {MAX_MESSAGE_CHARS} characters), so I haven't read it. "
    "Please send a shorter one."
)

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def trusted_networks(setting: str) -> List[Network]:
    """TRUSTED_PROXIES: comma-separated addresses or networks (10.0.0.0/8, ::1)."""
    networks = []
    for part in (setting or "").split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return networks


def _parse(address: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        return ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None


def resolve_client(peer: Optional[str], forwarded_for: Optional[str], trusted: Sequence[Network]) -> Optional[str]:
    """The client's address: the peer, or, behind trusted proxies, the right-most
    X-Forwarded-For entry that is not itself a trusted proxy."""
    chain = [part for part in (forwarded_for or "").split(",") if part.strip()] + [peer or ""]
    client = None
    for hop in reversed(chain):
        address = _parse(hop)
        if address is None:
            return client  # garbage in the header: stop at the last hop we could trust
        client = str(address)
        if not any(address in network for network in trusted):
            return client
    return client


# Channels with no network address of their own (Rocket.Chat: the server, not the
# visitor, calls the webhook) give the limits the platform's user or visitor id instead,
# under this prefix; X-Forwarded-For and peers only ever yield IP addresses, so no
# visitor can claim one. (issue 23, finding 1)
CHAT_CLIENT_PREFIX = "rocketchat-user:"
MAX_CHAT_ID_CHARS = 128


def rocketchat_client(user_id: object) -> Optional[str]:
    """The client key value for a Rocket.Chat user or livechat visitor id, or None."""
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > MAX_CHAT_ID_CHARS:
        return None
    return CHAT_CLIENT_PREFIX + user_id.strip()


def chat_client(value: Optional[str]) -> Optional[str]:
    """`value` if it is a chat user's client key (rocketchat_client), else None."""
    if isinstance(value, str) and value.startswith(CHAT_CLIENT_PREFIX) and \
            len(value) <= len(CHAT_CLIENT_PREFIX) + MAX_CHAT_ID_CHARS:
        return value
    return None


def clean_text(text: str) -> str:
    """NUL bytes break PostgreSQL text columns; other control characters and bidi
    controls can rewrite a staff terminal or hide what a line says (imago_core/identity/safe_text.py)."""
    return strip_controls(text)

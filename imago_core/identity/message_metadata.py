"""What a web or REST client may put into a message's metadata (issue 23, finding 4).

Rasa stores a message's metadata in the tracker with the message, and every later
turn loads the whole tracker. socket.io `customData` and REST `metadata` used to be
stored as they came (engine.io accepted about 1 MB a message, REST 64 KB), so a
hundred such messages made every later turn of that conversation load ~100 MB.

Only keys the assistant reads are kept, each with a bounded value. The assistant
reads these metadata keys (grep `metadata` in actions/ and extensions/):

- CLIENT_ADDRESS_KEY: set by the channel itself from the connection, never taken
  from the client (it overwrites anything sent under that name);
- `room_kind`, `shape`, `room_id`, `user_id`: set by the RocketChat channel from
  RocketChat's own payload, not from a web or REST client;
- `staff`: on bot messages the staff console writes.

None of them is meant to come from a web or REST client: a widget visitor who
claimed `room_kind: shared` would only lock themselves out of requests, and a
`shape: livechat` is ignored outside RocketChat. So CLIENT_KEYS is empty today:
a key the assistant starts reading from clients is added here with its bound.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from imago_core.identity.client_address import CLIENT_ADDRESS_KEY

# key -> the longest string value kept. Only str values are kept (nothing nested).
CLIENT_KEYS: Mapping[str, int] = {}

# The channel's own client address: an IPv6 address is at most 45 characters.
MAX_CLIENT_ADDRESS_CHARS = 64

# engine.io's `max_http_buffer_size` for the widget's socket.io endpoint (default
# 1,000,000 bytes). A widget message is at most MAX_MESSAGE_CHARS (2,000) characters;
# JSON-escaped as `\uXXXX` pairs, that is at most 24 KB, plus the session id. 32 KB
# leaves room for that and refuses anything bigger before it is parsed at all.
MAX_SOCKETIO_PAYLOAD_BYTES = 32 * 1024


def from_client(raw: Any) -> Dict[str, Any]:
    """The part of a client's metadata the assistant keeps: the allowed keys, with
    string values no longer than their bound; everything else is dropped."""
    if not isinstance(raw, Mapping):
        return {}
    kept: Dict[str, Any] = {}
    for key, limit in CLIENT_KEYS.items():
        value = raw.get(key)
        if isinstance(value, str) and len(value) <= limit:
            kept[key] = value
    return kept


def with_client_address(metadata: Dict[str, Any], address: Optional[str]) -> Dict[str, Any]:
    """Adds the channel's own client address (bounded: it comes from a header behind
    trusted proxies, and resolve_client returns only parsed IP addresses anyway)."""
    metadata = dict(metadata)
    metadata[CLIENT_ADDRESS_KEY] = address if isinstance(address, str) and len(address) <= MAX_CLIENT_ADDRESS_CHARS \
        else None
    return metadata

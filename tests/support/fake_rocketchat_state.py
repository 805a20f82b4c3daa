"""The fake Rocket.Chat's vocabulary (tests/support/fake_rocketchat.py): the REST routes
it serves, the default role grants of the permissions that matter, the
chat.postMessage schema's keys, the records of users, rooms, departments, requests and
webhook deliveries, and the request bodies and error answers as Rocket.Chat writes them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs


API = "/api/v1/"
LOGIN = "/api/v1/login"
POST_MESSAGE = "/api/v1/chat.postMessage"
ROOM_FORWARD = "/api/v1/livechat/room.forward"
ROOMS_INFO = "/api/v1/rooms.info"
USERS_INFO = "/api/v1/users.info"
IM_CREATE = "/api/v1/im.create"
ME = "/api/v1/me"
PERMISSIONS = "/api/v1/permissions.listAll"
LIVECHAT_CONFIG = "/api/v1/livechat/config"

# Default role grants of the permissions that matter here (permissions.ts).
DEFAULT_PERMISSIONS = {
    "view-l-room": ["livechat-manager", "livechat-monitor", "livechat-agent", "admin"],
    "transfer-livechat-guest": ["livechat-manager", "livechat-monitor", "admin"],
    "api-bypass-rate-limit": ["admin", "bot", "app"],
    "view-livechat-rooms": ["livechat-manager", "livechat-monitor", "admin"],
}
# ChatPostMessageSchema (packages/rest-typings/src/v1/chat.ts).
_POST_MESSAGE_COMMON = {"text", "alias", "emoji", "avatar", "attachments", "customFields", "parseUrls"}
_POST_MESSAGE_ROOM_KEYS = _POST_MESSAGE_COMMON | {"roomId", "tmid"}
_POST_MESSAGE_CHANNEL_KEYS = _POST_MESSAGE_COMMON | {"channel"}
FORBIDDEN = "User does not have the permissions required for this action [error-unauthorized]"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: Dict[str, str]
    body: Any
    status: int  # what the fake answered


@dataclass
class _Fault:
    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    expire_token: bool = False


@dataclass
class User:
    _id: str
    username: str
    roles: List[str]
    online: bool = True


@dataclass
class Room:
    _id: str
    t: str  # "c" channel, "p" group, "d" direct, "l" livechat
    uids: List[str] = field(default_factory=list)
    name: Optional[str] = None
    department_id: Optional[str] = None
    served_by: Optional[str] = None  # user id of the serving agent (livechat)
    visitor: Optional[Dict[str, Any]] = None
    closed_at: Optional[str] = None  # a closed room has this and no `open` (closeRoomById)

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass
class Department:
    _id: str
    agents: List[str]  # user ids
    allow_receive_forward_offline: bool = False


@dataclass
class Delivery:
    """One webhook delivery as Rocket.Chat's sendRequest would make it."""

    attempts: List[Optional[int]] = field(default_factory=list)  # status, None = no answer in time
    waits: List[float] = field(default_factory=list)  # seconds waited before each re-send
    integration_disabled: bool = False  # an outgoing webhook answered 410 (triggerHandler.ts)


def _parse_body(content_type: str, raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {k: v[0] for k, v in parse_qs(text).items()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _error_body(path: str, status: int) -> Dict[str, Any]:
    if status == 401:
        if path == LOGIN:
            return {"status": "error", "error": "Unauthorized", "message": "Unauthorized"}
        return {"success": False, "status": "error", "error": "You must be logged in to do this.",
                "message": "You must be logged in to do this."}
    if status == 403:
        return {"success": False, "error": FORBIDDEN}
    if status == 429:
        return {"success": False, "error": "Error, too many requests. Please slow down. [error-too-many-requests]"}
    return {"success": False, "error": f"fake error {status}"}

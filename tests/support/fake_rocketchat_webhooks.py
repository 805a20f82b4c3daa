"""The webhooks the fake Rocket.Chat sends (tests/support/fake_rocketchat.py explains
the contracts): the Omnichannel (livechat) and outgoing-webhook payloads, and their two
delivery rules with re-sends. A mixin of FakeRocketChat, which holds the state.
"""
from __future__ import annotations

import time
from typing import Any, Dict, Optional

import requests

from tests.support.fake_rocketchat_state import (
    Delivery,
    Room,
)


class _WebhookSender:
    """Payloads Rocket.Chat would send, and sending them as Rocket.Chat does."""

    # -- payloads Rocket.Chat would send ----------------------------------------------
    def livechat_message(self, room_id: str, text: str, message_id: Optional[str] = None, edited: bool = False,
                         from_agent: Optional[str] = None) -> Dict[str, Any]:
        """A `Message` event as sendToCRM.ts builds it for one new message."""
        with self._lock:
            room = self.rooms[room_id]
            payload = self._livechat_base(room)
            author = self.users[from_agent].username if from_agent else room.visitor["username"]
        message: Dict[str, Any] = {"_id": message_id or f"LMSG{next(self._counter)}", "username": author,
                                   "msg": text, "ts": "2024-05-01T10:00:00.000Z", "rid": room_id}
        if edited:
            message["editedAt"] = "2024-05-01T10:01:00.000Z"
        if from_agent:
            message["agentId"] = from_agent
        payload.update({"type": "Message", "messages": [message]})
        return payload

    def _livechat_base(self, room: Room) -> Dict[str, Any]:
        """getLivechatRoomGuestInfo: room, visitor and (when served) the agent."""
        payload: Dict[str, Any] = {"_id": room._id, "label": room.visitor["name"], "topic": None,
                                   "createdAt": "2024-05-01T09:59:00.000Z", "tags": None, "customFields": {},
                                   "visitor": {**room.visitor, "email": None, "phone": None}}
        if room.served_by:
            agent = self.users[room.served_by]
            payload["agent"] = {"_id": agent._id, "username": agent.username, "name": agent.username,
                                "email": None}
        return payload

    def outgoing_message(self, room_id: str, user_id: str, text: str, token: str,
                         message_id: Optional[str] = None, edited: bool = False) -> Dict[str, Any]:
        with self._lock:
            room, user = self.rooms[room_id], self.users[user_id]
        payload = {"token": token, "bot": False, "channel_id": room_id, "channel_name": room.name,
                   "message_id": message_id or f"MSG{next(self._counter)}", "timestamp": "2024-05-01T10:00:00Z",
                   "user_id": user_id, "user_name": user.username, "text": text, "siteUrl": self.url}
        if edited:
            payload["isEdited"] = True
        return payload

    # -- delivering webhooks (blocking: call it from a thread in async tests) -----------
    def send_livechat(self, url: str, payload: Dict[str, Any], secret: Optional[str], attempts: int = 5) -> Delivery:
        """webhooks.ts sendRequest: POST with the secret header; 200 ends it; a 5xx, 429
        or no answer within `http_timeout` is re-sent after `resend_interval`."""
        headers = {"X-RocketChat-Livechat-Token": secret} if secret else {}
        return self._deliver(url, payload, headers, attempts)

    def send_outgoing(self, url: str, payload: Dict[str, Any], retry_count: int = 6,
                      sleep=None) -> Delivery:
        """triggerHandler.ts executeTriggerUrl (see the module doc). `sleep` stands in for the
        setTimeout between tries (tests pass one that records and returns at once)."""
        delivery = Delivery()
        for tries in range(retry_count + 1):
            try:
                answer = requests.post(url, json=payload, timeout=self.http_timeout)
                status, content = answer.status_code, answer.text
            except requests.RequestException:
                delivery.attempts.append(None)
                return delivery  # the fetch's .catch: logged, never retried
            delivery.attempts.append(status)
            if content and status in (200, 201, 202):
                return delivery
            if content and status == 410:
                delivery.integration_disabled = True
                return delivery
            if content and status == 500:
                return delivery
            if tries < retry_count:
                wait = 10 ** (tries + 2) / 1000.0  # 'powers-of-ten'
                delivery.waits.append(wait)
                (sleep or time.sleep)(wait)
        return delivery

    def _deliver(self, url: str, payload: Dict[str, Any], headers: Dict[str, str], attempts: int) -> Delivery:
        delivery = Delivery()
        for attempt in range(attempts):
            try:
                status = requests.post(url, json=payload, headers=headers, timeout=self.http_timeout).status_code
            except requests.RequestException:
                status = None
            delivery.attempts.append(status)
            if status is not None and not (status >= 500 or status == 429):
                return delivery  # 200, or an error that is not worth repeating
            if attempt + 1 < attempts:
                time.sleep(self.resend_interval)
        return delivery

"""RocketChat connector: outgoing webhooks and Omnichannel (livechat) rooms.

Configured in credentials.yml as `extensions.channels.rocketchat.RocketChatInput:`
with `user`, `server_url`, either `auth_token` + `user_id` (a personal access token,
preferred) or `password`, `webhook_token`, `livechat_token`, `handoff_department_id`
(optional) and `timeout` (seconds). Served at `/webhooks/rocketchat/webhook`.

How it meets a real Rocket.Chat (files named are in RocketChat/Rocket.Chat unless
said), one concern per module:
- `webhook`: the input channel. Exactly one turn per message (message ids claimed in
  the database), answered at once, and every failure answered 503 with a JSON body,
  the one answer both Rocket.Chat webhooks re-send (webhooks.ts, triggerHandler.ts).
- `payloads`: what each webhook shape carries, read as hostile input; only rooms the
  bot serves, never edits, agents' messages or closed rooms.
- `ids`: conversations belong to (room, user): a room with several people gives each
  person their own conversation, and a privacy request started there moves to a
  direct message (`im.create`) before anything personal is asked. Closed rooms are
  rooms without `open` or with `closedAt` (Rocket.Chat unsets `open` on close).
- `output`: replies and the hand-off, whose preconditions are checked so that a
  refused forward leaves the escalation with the staff console.
- `handback`: a room forwarded to people and handed back to the bot resumes.
- `texts` (+ texts.yml): what the connector itself says.
- The REST client is extensions/channels/rocketchat_client.py.
"""
from extensions.channels.rocketchat_client import (  # noqa: F401 - re-exported for callers and tests
    DEFAULT_TIMEOUT,
    RATE_LIMIT_WAIT_CAP,
    RocketChatClient,
    room_ref,
)

from .ids import PREFIX, conversation_id, direct_room_id, room_and_user, room_of  # noqa: F401
from .output import HANDOFF_KEY, MOVE_KEY, RocketChatBot, SetupState  # noqa: F401
from .payloads import SHAPE_LIVECHAT, SHAPE_WEBHOOK  # noqa: F401
from .webhook import LIVECHAT_TOKEN_HEADER, RocketChatInput  # noqa: F401

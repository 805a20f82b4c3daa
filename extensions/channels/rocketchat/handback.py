"""A livechat room handed back to the bot after a forward: the conversation resumes.

action_handoff pauses the conversation (ConversationPaused) and a successful forward
takes the bot out of the room (Rocket.Chat's `servedBy` becomes a person). If that
person forwards the chat back to the bot, Omnichannel `Message` events come with the
bot as `agent` again, but Rasa ignores every message of a paused tracker
(rasa/core/processor.py, `_should_handle_message`), so the bot would stay silent for
good. The escalation of a successful forward is FORWARDED (record_forward_outcome):
a visitor message in a room the bot serves whose conversation has one means the
room came back, so the tracker gets what the staff console's hand-back writes
(ConversationResumed, then action_listen so the rules match again) and the
escalation becomes HANDED_BACK.

A hand-off that Rocket.Chat refused never left the bot's room and stays WAITING:
that conversation stays paused for the staff console, as it should.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional, Text

from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, ConversationResumed
from sqlalchemy import select

from imago_core.handoff.escalations import set_escalation_status
from imago_core.storage.db import session_scope
from imago_core.storage.models import Escalation, EscalationStatus

logger = logging.getLogger(__name__)
ACTOR = "rocketchat:handback"


def forwarded_escalation(conversation: Text) -> Optional[Text]:
    """The reference of the conversation's newest FORWARDED escalation, if any."""
    with session_scope() as session:
        return session.execute(
            select(Escalation.reference)
            .where(Escalation.conversation_id == conversation, Escalation.status == EscalationStatus.FORWARDED)
            .order_by(Escalation.created_at.desc())
            .limit(1)
        ).scalar_one_or_none()


async def resume_if_handed_back(agent: Any, conversation: Text) -> bool:
    """Resumes the paused conversation if its room was forwarded away and is the bot's again.

    `agent` is Rasa's Agent (its tracker and lock stores); without them nothing is done.
    Database errors propagate: the webhook then answers 503 and Rocket.Chat re-sends.
    """
    tracker_store = getattr(agent, "tracker_store", None)
    lock_store = getattr(agent, "lock_store", None)
    if tracker_store is None or lock_store is None:
        return False
    reference = await asyncio.to_thread(forwarded_escalation, conversation)
    if reference is None:
        return False
    async with lock_store.lock(conversation):
        tracker = await tracker_store.get_or_create_tracker(conversation)
        if tracker.is_paused():
            tracker.update(ConversationResumed())
            tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
            await tracker_store.save(tracker)
    await asyncio.to_thread(set_escalation_status, reference, EscalationStatus.HANDED_BACK, ACTOR)
    logger.info("RocketChat: escalation %s handed back to the bot by Rocket.Chat; conversation resumed", reference)
    return True

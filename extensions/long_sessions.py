"""Keeps the cost of a turn flat in long conversations.

Rasa loads, replays, featurises and sends to the action server every event of the
current conversation session, so each turn of a 100-turn conversation costs more than
the one before. Rasa's own remedy is the session: `action_session_start` starts a new
one (carrying the slots over, `carry_over_slots_to_new_session: true` in domain.yml),
and the tracker store loads only the events since the latest `session_started`. But
Rasa starts a session only after `session_expiration_time` minutes of silence.

So the tracker store also starts one when the current session has grown past
`max_session_events` and the conversation is at rest: the assistant is listening, no
form is active, the conversation is not paused for staff. The events written are
exactly those Rasa writes for a session start with carried-over slots
(`action_session_start`, `session_started`, one `slot` per slot that was set, with its
current value, and `action_listen`), so policies see what they would see after an
expired session. Forms, rules and memoisation look back far less than the window.
"""
from __future__ import annotations

from typing import List, Optional

from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, Event, SessionStarted, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

DEFAULT_MAX_SESSION_EVENTS = 100  # ~20 turns of questions and answers


def at_rest(tracker: DialogueStateTracker) -> bool:
    return (tracker.latest_action_name == ACTION_LISTEN_NAME
            and not tracker.active_loop_name
            and not tracker.is_paused())


def session_start_events(tracker: DialogueStateTracker, max_events: int) -> Optional[List[Event]]:
    """The events that start a new session now, or None if it is not time for one."""
    if max_events <= 0 or len(tracker.events) <= max_events or not at_rest(tracker):
        return None
    # The new session must sort after every stored event (the store finds the latest
    # session by timestamp) and before anything that comes later.
    timestamp = max((event.timestamp for event in tracker.events), default=None)
    slot_names = []
    for event in tracker.applied_events():
        if isinstance(event, SlotSet) and event.key not in slot_names:
            slot_names.append(event.key)
    events: List[Event] = [
        ActionExecuted(ACTION_SESSION_START_NAME, timestamp=timestamp),
        SessionStarted(timestamp=timestamp),
    ]
    events += [SlotSet(name, tracker.get_slot(name), timestamp=timestamp) for name in slot_names
               if name in tracker.slots]
    events.append(ActionExecuted(ACTION_LISTEN_NAME, timestamp=timestamp))
    return events

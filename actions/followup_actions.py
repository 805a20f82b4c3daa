"""Answers an elliptical follow-up against the topic just discussed."""
from __future__ import annotations

from typing import Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.followup import last_topic, resolve
from actions.policy import get_catalogue
from actions.settings import get_settings


class ActionFollowUp(Action):
    def name(self) -> Text:
        return "action_follow_up"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict) -> List:
        bot_texts = [e.get("text") or "" for e in reversed(tracker.events) if e.get("event") == "bot"]
        previous = last_topic(bot_texts)
        topic_id = resolve(tracker.latest_message.get("text") or "", previous)
        topic = get_catalogue().by_id(topic_id) if topic_id else None
        if topic is None:
            dispatcher.utter_message(
                text="Could you say a little more about what you'd like to know? For example: what data we "
                "collect, how long we keep it, or who we share it with.")
            return []
        dispatcher.utter_message(text=topic.render(get_settings().policy_url))
        return [SlotSet("fallback_count", 0)]

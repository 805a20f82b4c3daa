"""The Rasa server's NLG: each `utter_*` response in the visitor's language.

Rasa 3.6 merges domain files with a shallow dict merge, so per-language domain files
would override each other's responses; conditional variations would put every
language into domain.yml. Instead the domain keeps each response's structure
(button payloads) with its English text, and this generator swaps in the text and
button titles of `data/texts/<language>.yml`, the same files the action server's
texts come from (imago_core/language/texts.py). Configured in endpoints.yml:
`nlg: {type: extensions.nlg.LanguageNLG}`; loaded by rasa/core/nlg/generator.py.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Text

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from imago_core.language import needs_language_notice, reply_language
from imago_core.language.texts import texts_for

LANGUAGE_SLOTS = ("language", "language_choice")


def slot_history(tracker: DialogueStateTracker) -> List[Optional[str]]:
    """Every value the language slots held, oldest first ("zh" keeps the script of these)."""
    return [e.value for e in tracker.events if isinstance(e, SlotSet) and e.key in LANGUAGE_SLOTS]


def tracker_language(tracker: DialogueStateTracker) -> str:
    return reply_language(tracker.get_slot("language"), tracker.get_slot("language_choice"),
                          slot_history(tracker))


def translated(response: Dict[Text, Any], language: str, name: str, notice: bool) -> Dict[Text, Any]:
    own = texts_for(language).response(name)
    if not own:
        return response  # tests/test_texts.py keeps every response in every language
    response = copy.deepcopy(response)
    response["text"] = own["text"]
    for button, title in zip(response.get("buttons") or [], own.get("buttons") or []):
        button["title"] = title
    if notice:
        response["text"] += "\n\n" + texts_for("en").get("language.notice")
    return response


class LanguageNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self, endpoint_config: Any = None, domain: Optional[Domain] = None) -> None:
        super().__init__((domain or Domain.empty()).responses)

    async def generate(self, utter_action: Text, tracker: DialogueStateTracker, output_channel: Text,
                       **kwargs: Any) -> Optional[Dict[Text, Any]]:
        filled_slots = tracker.current_slot_values()
        chosen = copy.deepcopy(self._random_response_for(utter_action, output_channel, filled_slots))
        if chosen is None:
            return None
        language = tracker_language(tracker)
        notice = needs_language_notice(tracker.get_slot("language"), tracker.get_slot("language_choice"))
        chosen = translated(chosen, language, utter_action, notice)
        return self._fill_response(chosen, filled_slots, **kwargs)

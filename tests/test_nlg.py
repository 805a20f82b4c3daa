"""extensions/nlg.py: the domain's responses in the language the slots pick, loaded
the way Rasa loads it from endpoints.yml."""
from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.nlg.generator import NaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from extensions.nlg import LanguageNLG

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = Domain.load(str(ROOT / "domain.yml"))


def tracker(*values):
    events = [UserUttered("hi")]
    for name, value in values:
        events.append(SlotSet(name, value))
    return DialogueStateTracker.from_events("nlg-test", events, slots=DOMAIN.slots)


@pytest.fixture
def nlg(monkeypatch):
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "unused-here")  # endpoints.yml names it; reading needs it set
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "nlg")
    generator = NaturalLanguageGenerator.create(config, DOMAIN)
    assert isinstance(generator, LanguageNLG)  # endpoints.yml really configures it
    return generator


async def test_english_by_default(nlg):
    response = await nlg.generate("utter_greet", tracker(), "rest")
    assert response["text"].startswith("Hi! I'm the IMAGO privacy assistant.")


async def test_traditional_with_translated_buttons_and_the_same_payloads(nlg):
    response = await nlg.generate("utter_offer_handoff_urgent", tracker(("language", "zh-Hant")), "socketio")
    assert response["text"].endswith("要我現在把這段對話轉交給他們嗎？")
    assert [(b["title"], b["payload"]) for b in response["buttons"]] == [
        ("好，幫我聯絡真人", "/request_human"), ("暫時不用", "/deny")]


async def test_the_language_follows_each_message_and_an_explicit_choice_holds(nlg):
    switched = tracker(("language", "zh-Hans"), ("language", "en"))
    assert (await nlg.generate("utter_goodbye", switched, "rest"))["text"].startswith("Goodbye")
    chosen = tracker(("language", "zh-Hant"), ("language_choice", "zh-Hans"), ("language", "zh-Hant"))
    assert (await nlg.generate("utter_goodbye", chosen, "rest"))["text"] == "再见，感谢您关注个人隐私。"


async def test_ambiguous_chinese_keeps_the_script_and_another_language_gets_the_notice(nlg):
    kept = tracker(("language", "zh-Hans"), ("language", "zh"))
    assert (await nlg.generate("utter_anything_else", kept, "rest"))["text"] == "还有什么可以帮您？"
    spanish = await nlg.generate("utter_anything_else", tracker(("language", "other")), "rest")
    assert spanish["text"] == "Is there anything else I can help you with?\n\n(I answer in English, 繁體中文 and 简体中文.)"


async def test_an_unknown_response_is_none(nlg):
    assert await nlg.generate("utter_nothing_like_this", tracker(), "rest") is None

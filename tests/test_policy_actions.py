"""The policy actions: grounded answers, honest fallbacks, silence admitted."""
from __future__ import annotations

import re

import pytest
from rasa_sdk.executor import CollectingDispatcher

from imago_core.policy import get_catalogue
from actions.policy_actions import (
    ActionAnswerPolicy,
    ActionPolicyFallback,
    ActionPolicySilent,
    fallback_candidates,
    second_topic,
)
from tests.support.trackers import buttons, make_tracker, texts

CATALOGUE = get_catalogue()
LINK = re.compile(r"\[[^\]]+\]\((https?://[^)\s]+)\)")


async def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher, events


@pytest.mark.parametrize("topic", CATALOGUE.topics, ids=lambda t: t.id)
async def test_each_topic_intent_is_answered_with_its_own_section(isolated_env, topic):
    dispatcher, events = await run(ActionAnswerPolicy(), make_tracker(intent=topic.intent, text="?"))
    answer = texts(dispatcher)[0]
    assert topic.answer.strip() in answer
    assert LINK.findall(answer) == [f"https://privacy.example.test/policy#{topic.id}"]
    assert {"event": "slot", "name": "fallback_count", "value": 0, "timestamp": None} in events


async def test_policy_url_defaults_to_the_page_the_run_command_serves(isolated_env, monkeypatch):
    from imago_core.settings import reset_settings_cache

    monkeypatch.delenv("POLICY_URL")
    reset_settings_cache()
    dispatcher, _ = await run(ActionAnswerPolicy(), make_tracker(intent="policy_cookies", text="cookies?"))
    assert "(http://localhost:8080/policy#cookies)" in texts(dispatcher)[0]


async def test_two_topics_in_one_message_get_two_answers(isolated_env):
    ranking = [{"name": "policy_data_sale", "confidence": 0.7}, {"name": "policy_retention", "confidence": 0.2}]
    tracker = make_tracker(intent="policy_data_sale", ranking=ranking,
                           text="do you sell my data, and how long do you retain it?")
    dispatcher, _ = await run(ActionAnswerPolicy(), tracker)
    links = [link for t in texts(dispatcher) for link in LINK.findall(t)]
    assert [link.rsplit("#", 1)[1] for link in links] == ["data-sale", "retention"]


def test_a_single_question_gets_no_second_topic():
    ranking = [{"name": "policy_retention", "confidence": 0.9}]
    assert second_topic("how long do you keep my call history", "retention", ranking) is None


async def test_your_rights_answer_offers_to_file_requests(isolated_env):
    dispatcher, _ = await run(ActionAnswerPolicy(), make_tracker(intent="policy_your_rights", text="my rights?"))
    payloads = {b["payload"] for b in buttons(dispatcher)}
    assert {"/request_access", "/request_deletion", "/request_correction", "/request_export"} <= payloads


async def test_non_topic_intent_is_not_answered_from_the_policy(isolated_env):
    dispatcher, _ = await run(ActionAnswerPolicy(), make_tracker(intent="greet", text="hi"))
    assert [m.get("response") for m in dispatcher.messages] == ["utter_default"]


def test_fallback_candidates_mix_classifier_and_text_search():
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "policy_cookies", "confidence": 0.3},
               {"name": "greet", "confidence": 0.2}]
    candidates = fallback_candidates("can the police get my records?", ranking)
    assert candidates[0] == "cookies"  # the classifier's guess first
    assert "legal-disclosure" in candidates  # the search found what the classifier missed
    assert len(candidates) <= 3


async def test_first_miss_offers_topics_second_miss_offers_a_person(isolated_env):
    # A genuine tie that the policy search cannot break ("hmm" finds nothing).
    ranking = [{"name": "nlu_fallback", "confidence": 0.45}, {"name": "policy_retention", "confidence": 0.3},
               {"name": "policy_security", "confidence": 0.28}]
    tracker = make_tracker(intent="nlu_fallback", text="hmm", ranking=ranking,
                           slots={"fallback_count": 0})
    dispatcher, events = await run(ActionPolicyFallback(), tracker)
    payloads = [b["payload"] for b in buttons(dispatcher)]
    assert "/policy_retention" in payloads and 2 <= len(payloads) <= 4
    assert events[-1]["value"] == 1

    tracker = make_tracker(intent="nlu_fallback", text="hmm no", ranking=ranking, slots={"fallback_count": 1})
    dispatcher, events = await run(ActionPolicyFallback(), tracker)
    assert "support@Imagotechs.com" in texts(dispatcher)[0]
    assert [b["payload"] for b in buttons(dispatcher)] == ["/request_human"]
    assert events[-1]["value"] == 0


@pytest.mark.parametrize("question, subject", [
    ("what about my kids data, is there an age limit", "children"),
    ("do you honour do not track", "Do Not Track"),
    ("do you use my calls to train your AI", "AI"),
    ("who is your DPO", "data protection officer"),
    ("will you notify me of a data breach", "breach"),
])
async def test_silent_policy_says_so_links_nothing_and_offers_a_person(isolated_env, question, subject):
    dispatcher, _ = await run(ActionPolicySilent(), make_tracker(intent="policy_silent", text=question))
    reply = texts(dispatcher)[0]
    assert "doesn't say anything" in reply and subject in reply
    assert not LINK.findall(reply) and "http" not in reply
    assert [b["payload"] for b in buttons(dispatcher)] == ["/request_human"]

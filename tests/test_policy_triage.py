"""Answer instead of asking: the triage after an unsure classifier, and the
"Also see" runner-up on answers."""
from __future__ import annotations

import re

import pytest
from rasa_sdk.executor import CollectingDispatcher

from imago_core.policy import get_catalogue
from imago_core.policy.search import get_search
from imago_core.policy.triage import decide
from actions.policy_actions import ActionAnswerPolicy, ActionPolicyFallback, silent_subject
from tests.support.trackers import buttons, make_tracker, texts

LINK = re.compile(r"\]\(https?://[^)\s#]+#([a-z-]+)\)")


def ranking(*pairs):
    return [{"name": "nlu_fallback", "confidence": 0.45}] + [{"name": n, "confidence": c} for n, c in pairs]


def triage(text, *pairs):
    return decide(text, ranking(*pairs), get_catalogue(), get_search())


def test_a_clear_leader_is_answered_with_the_runner_up_as_also_see():
    decision = triage("will the app use my info for marketing", ("policy_marketing_opt_out", 0.38),
                      ("policy_purposes", 0.12), ("greet", 0.01))
    assert (decision.kind, decision.topic, decision.also_see) == ("answer", "marketing-opt-out", "purposes")


def test_a_tie_the_search_can_break_is_answered():
    decision = triage("how long do you keep my data", ("policy_security", 0.31), ("policy_retention", 0.29))
    assert (decision.kind, decision.topic, decision.also_see) == ("answer", "retention", "security")


def test_a_real_tie_asks():
    decision = triage("hmm", ("policy_security", 0.31), ("policy_retention", 0.29))
    assert decision.kind == "ask" and decision.candidates[:2] == ["security", "retention"]


def test_nothing_fits_asks():
    decision = triage("blorp", ("policy_security", 0.12), ("policy_retention", 0.1), ("greet", 0.09))
    assert decision.kind == "ask"


@pytest.mark.parametrize("intent, kind", [("policy_silent", "silent"), ("out_of_scope", "out_of_scope")])
def test_a_clear_silent_or_off_topic_reading_links_nothing(intent, kind):
    assert triage("does it cost money", (intent, 0.4), ("policy_payment_data", 0.1)).kind == kind


async def _run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher, events


async def test_unsure_but_clear_answers_with_link_and_also_see_button(isolated_env):
    tracker = make_tracker(intent="nlu_fallback", text="is my stuff sold",
                           ranking=ranking(("policy_data_sale", 0.4), ("policy_sharing", 0.15)))
    dispatcher, events = await _run(ActionPolicyFallback(), tracker)
    assert [LINK.findall(t) for t in texts(dispatcher)] == [["data-sale"]]
    assert {"title": "Also see: Who we share data with", "payload": "/policy_sharing"} in buttons(dispatcher)
    assert "did you mean" not in texts(dispatcher)[0].lower()
    assert events[-1]["value"] == 0


async def test_unsure_and_silent_says_the_policy_does_not_say(isolated_env):
    tracker = make_tracker(intent="nlu_fallback", text="does it read my texts",
                           ranking=ranking(("policy_silent", 0.41), ("policy_mobile_app", 0.2)))
    dispatcher, _ = await _run(ActionPolicyFallback(), tracker)
    reply = texts(dispatcher)[0]
    assert "doesn't say anything about reading your texts" in reply and "http" not in reply


async def test_a_confident_answer_offers_the_runner_up(isolated_env):
    tracker = make_tracker(intent="policy_retention", text="how long is my data kept",
                           ranking=[{"name": "policy_retention", "confidence": 0.8},
                                    {"name": "policy_your_rights", "confidence": 0.1}])
    dispatcher, _ = await _run(ActionAnswerPolicy(), tracker)
    assert LINK.findall(texts(dispatcher)[0]) == ["retention"]
    assert buttons(dispatcher)[-1] == {"title": "Also see: Your rights and how to use them",
                                       "payload": "/policy_your_rights"}


async def test_no_also_see_when_the_runner_up_has_no_weight(isolated_env):
    tracker = make_tracker(intent="policy_cookies", text="cookies?",
                           ranking=[{"name": "policy_cookies", "confidence": 0.98},
                                    {"name": "policy_automatic_data", "confidence": 0.01}])
    dispatcher, _ = await _run(ActionAnswerPolicy(), tracker)
    assert not [b for b in buttons(dispatcher) if b["title"].startswith("Also see")]


@pytest.mark.parametrize("question, subject", [
    ("do you keep my medical records", "health"),
    ("is the app free", "prices or fees"),
    ("are there ads", "ads"),
    ("does it switch on my microphone", "microphone"),
    ("has the app ever been hacked", "security incidents"),
    ("is there two step verification", "sign-in"),
])
def test_silent_subjects_are_named(question, subject):
    assert subject in silent_subject(question)


@pytest.mark.parametrize("text", ["what will you do with my DNA", "how much does it cost",
                                  "does it switch on my webcam", "have you ever been hacked before"])
def test_subjects_the_policy_never_mentions_are_not_answered_from_a_section(text):
    assert triage(text, ("policy_purposes", 0.6), ("policy_silent", 0.2)).kind == "silent"


def test_a_nearly_certain_section_still_wins_over_a_never_mentioned_word():
    assert triage("does the price i pay get stored with my card", ("policy_payment_data", 0.95)).kind == "answer"


def test_a_section_close_behind_the_silent_reading_is_answered():
    decision = triage("do other companies get my pictures", ("policy_silent", 0.45), ("policy_sharing", 0.35))
    assert (decision.kind, decision.topic) == ("answer", "sharing")


def test_a_clearly_silent_question_stays_silent():
    assert triage("who is your dpo", ("policy_silent", 0.7), ("policy_contact", 0.2)).kind == "silent"


async def test_silent_action_answers_a_close_section(isolated_env):
    from actions.policy_actions import ActionPolicySilent

    tracker = make_tracker(intent="policy_silent", text="do other companies get my pictures",
                           ranking=[{"name": "policy_silent", "confidence": 0.5},
                                    {"name": "policy_sharing", "confidence": 0.4}])
    dispatcher, _ = await _run(ActionPolicySilent(), tracker)
    assert LINK.findall(texts(dispatcher)[0]) == ["sharing"]


async def test_confident_topic_about_a_never_mentioned_subject_says_the_policy_is_silent(isolated_env):
    tracker = make_tracker(intent="policy_purposes", text="what will you do with my dna",
                           ranking=[{"name": "policy_purposes", "confidence": 0.7}])
    dispatcher, _ = await _run(ActionAnswerPolicy(), tracker)
    assert "doesn't say anything about health or medical data" in texts(dispatcher)[0]


@pytest.mark.parametrize("text, vague", [
    ("the thing with the stuff from before", True),   # points at something, names nothing
    ("what about that one thing?", True),
    ("do you keep my location?", False),                # a subject, however short
    ("what do you do with my information", False),      # "information" is a subject here
    ("and how long?", False),                           # a follow-up names its subject ("long")
    ("flibber gnoo wazzle", False),                     # unknown words are the classifier's call
    ("我的資料會保存多久？", False),                      # other scripts too
])
def test_a_message_that_names_no_subject_is_asked_about_not_answered(text, vague):
    from imago_core.policy.triage import names_no_subject

    assert names_no_subject(text) is vague
    if vague:  # however confident the classifier is about some section
        assert triage(text, ("policy_purposes", 0.97), ("policy_sharing", 0.01)).kind == "ask"


# Issue 24: a question the policy spreads over two neighbouring sections.
def test_a_near_tie_between_neighbours_answers_both_the_second_short():
    from imago_core.policy.triage import close_second_section

    near = [{"name": "policy_automatic_data", "confidence": 0.5}, {"name": "policy_data_collected", "confidence": 0.3}]
    far = [{"name": "policy_automatic_data", "confidence": 0.8}, {"name": "policy_data_collected", "confidence": 0.1}]
    assert close_second_section(near, get_catalogue(), "automatic-data") == "data-collected"
    assert close_second_section(far, get_catalogue(), "automatic-data") is None
    # Only for the classifier's own leader.
    assert close_second_section(near, get_catalogue(), "sharing") is None


def test_a_tie_the_search_points_at_answers_both_instead_of_asking():
    decision = triage("which cookies and what device information do you collect",
                      ("policy_automatic_data", 0.3), ("policy_cookies", 0.28))
    assert decision.kind == "answer"
    assert {decision.topic, decision.second or decision.also_see} == {"automatic-data", "cookies"}


@pytest.mark.asyncio
async def test_the_second_section_is_one_sentence_with_its_link(isolated_env):
    tracker = make_tracker(intent="policy_automatic_data", text="what do you record when i use the site",
                           ranking=[{"name": "policy_automatic_data", "confidence": 0.5},
                                    {"name": "policy_data_collected", "confidence": 0.35}])
    dispatcher = CollectingDispatcher()
    await ActionAnswerPolicy().run(dispatcher, tracker, {})
    replies = texts(dispatcher)
    assert [LINK.findall(r) for r in replies] == [["automatic-data"], ["data-collected"]]
    assert len(replies[1]) < len(replies[0]) + 200 and replies[1].count("\n- ") == 0


@pytest.mark.parametrize("text", ["is there a minimum age", "does your AI read my meetings",
                                  "do you use facial recognition", "are you soc 2 certified"])
def test_subjects_the_policy_never_names_are_silent(text):
    from imago_core.policy.triage import never_mentioned

    assert never_mentioned(text, 0.8)


def test_a_child_named_in_passing_leaves_the_reading_to_the_classifier():
    from imago_core.policy.triage import never_mentioned

    assert not never_mentioned("my son's school runs the class, who controls his data?", 0.8)

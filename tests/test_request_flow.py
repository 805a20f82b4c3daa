"""Reading request types, switches and complaints from what visitors type."""
from __future__ import annotations

import pytest

from imago_core.policy.followup import last_topic, resolve
from imago_core.storage.models import RequestType as T
from imago_core.requests.flow import (
    asks_for_person,
    merge_types,
    requested_types,
    sounds_like_complaint,
    types_for_start,
    wants_details_change,
    wants_email_change,
)


@pytest.mark.parametrize("text, types", [
    ("delete my data and also stop the marketing emails", [T.DELETION, T.MARKETING_OPTOUT]),
    ("send me a copy and then delete everything", [T.ACCESS, T.DELETION]),
    ("opt me out of marketing and send me a copy of my data", [T.MARKETING_OPTOUT, T.ACCESS]),
    ("actually, just export my data instead, don't delete anything", [T.EXPORT]),
    ("take me off your mailing list", [T.MARKETING_OPTOUT]),
    ("I want to correct my personal data", [T.CORRECTION]),
    ("what's the weather", []),
    # Negation reaches a few words back, within its clause only.
    ("I do NOT want you to delete my data, I just want to know what you have", [T.ACCESS]),
    ("i'm not asking you to delete anything, i just want a copy", [T.ACCESS]),
    ("actually forget correcting it, just delete my whole account", [T.DELETION]),
    ("I don't know how this works, but please delete my account", [T.DELETION]),
    ("i dont really understand it but delete my data", [T.DELETION]),
    ("please delete my data and don't send me a copy", [T.DELETION]),
    ("not looking to have my account erased, just send me a copy of my data", [T.ACCESS]),
    ("no i want you to delete my data", [T.DELETION]),
    # "wrong" is a correction next to something a record holds, not in a complaint.
    ("my surname is spelt wrong in your system", [T.CORRECTION]),
    ("you have the wrong phone number for me", [T.CORRECTION]),
    ("wtf is wrong with your company", []),
])
def test_every_type_named_is_read_and_negated_ones_are_not(text, types):
    assert requested_types(text) == types


def test_the_classifier_type_counts_unless_negated():
    assert types_for_start("please do it", T.DELETION) == [T.DELETION]
    assert types_for_start("export it, don't delete anything", T.DELETION) == [T.EXPORT]
    assert types_for_start("I do NOT want you to delete anything", T.DELETION) == []


@pytest.mark.parametrize("text, person", [
    ("this is taking way too long just get me a human", True),
    ("can a real person look at this", True),
    ("i want to speak to your manager", True),
    ("what personal data do you hold", False),
    ("do you share my data with other companies", False),
])
def test_a_person_asked_for_in_words(text, person):
    assert asks_for_person(text) is person


def test_a_new_type_replaces_unless_the_message_adds():
    assert merge_types([T.DELETION], [T.EXPORT], "actually, just export instead") == [T.EXPORT]
    assert merge_types([T.EXPORT], [T.MARKETING_OPTOUT], "and also opt me out of marketing") == \
        [T.EXPORT, T.MARKETING_OPTOUT]


@pytest.mark.parametrize("text", ["change the email", "wrong address", "can I use another email?",
                                  "I need to use a different email address"])
def test_email_change_is_recognised(text):
    assert wants_email_change(text) and not wants_details_change(text)


@pytest.mark.parametrize("text", ["change the details", "I want to fix the details", "let me rewrite the description"])
def test_details_change_is_recognised(text):
    assert wants_details_change(text) and not wants_email_change(text)


@pytest.mark.parametrize("text, complaint", [
    ("<b>hi</b> I'm unhappy, I want to complain about how you handled my data", True),
    ("*hey* you leaked my email", True),
    ("hello there", False),
    ("wtf, you guys are useless", True),
    ("hi, how long do you keep my data?", False),
])
def test_complaints_are_found_behind_greetings_and_markup(text, complaint):
    assert sounds_like_complaint(text) is complaint


@pytest.mark.parametrize("text, previous, topic", [
    ("and how long?", "data-collected", "retention"),
    ("with whom exactly?", "retention", "sharing"),
    ("what about cookies?", "sharing", "cookies"),
    ("and why?", "data-collected", "purposes"),
])
def test_follow_ups_resolve_against_the_last_topic(text, previous, topic):
    assert resolve(text, previous) == topic


def test_last_topic_is_read_from_the_latest_answer_link():
    assert last_topic(["no link here", "See [Retention](http://x/policy#retention)."]) == "retention"


def test_an_unsure_short_follow_up_is_read_only_after_a_policy_answer():
    from imago_core.policy.followup import elliptical_follow_up

    assert elliptical_follow_up("and how long?", "data-collected") == "retention"
    assert elliptical_follow_up("and how long?", None) is None
    assert elliptical_follow_up("hmm what about that one thing", "cookies") is None
    assert elliptical_follow_up("and how long do you keep the things you collected from me?", "cookies") is None


def test_digits_inside_an_address_are_not_a_code():
    from actions.request_form.common import typed_code

    assert typed_code("oops I meant second.552193cd@example.net") is None
    assert typed_code("the code is 552 193") == "552193"

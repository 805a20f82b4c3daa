"""Reading a message for what the classifier's one intent cannot carry (issue 24):
questions about a request itself, requests asked as questions, complaints about
an earlier request, and privacy questions about IMAGO's products."""
from __future__ import annotations

import pytest

from imago_core.policy.products import about_product_data
from imago_core.requests.flow import requested_types, sounds_like_complaint
from imago_core.requests.questions import RequestQuestion, request_question, requests_in_question
from imago_core.storage.models import RequestType

D, M, A = RequestType.DELETION, RequestType.MARKETING_OPTOUT, RequestType.ACCESS


@pytest.mark.parametrize("text, kind", [
    ("wait, how long will that take?", RequestQuestion.DEADLINE),
    ("when will I hear back?", RequestQuestion.DEADLINE),
    ("by when is it done", RequestQuestion.DEADLINE),
    ("what's next?", RequestQuestion.NEXT),
    ("so what happens now?", RequestQuestion.NEXT),
    ("how will you contact me", RequestQuestion.NEXT),
    ("who will handle my request?", RequestQuestion.WHO),
    ("which team looks at it?", RequestQuestion.WHO),
    ("does it cost anything?", RequestQuestion.COST),
    ("is it free?", RequestQuestion.COST),
    ("can I cancel it later?", RequestQuestion.CANCEL),
    ("could I withdraw it afterwards?", RequestQuestion.CANCEL),
])
def test_questions_about_the_request_itself(text, kind):
    assert request_question(text) is kind


@pytest.mark.parametrize("text", [
    "how long do you keep my data?",        # retention: about data, not the request
    "who do you share my data with?",        # sharing
    "do you sell my data",
    "delete my data",
])
def test_questions_about_data_are_not_about_the_request(text):
    assert request_question(text) is None


@pytest.mark.parametrize("text, types", [
    ("can I delete my account and also unsubscribe from emails?", [D, M]),
    ("is it possible to erase my data and stop the newsletters?", [D, M]),
    ("how do i get a copy of my data", [A]),
    ("is there a way I can see the personal data you hold on me?", [A]),
])
def test_requests_asked_as_questions_name_every_type(text, types):
    assert requests_in_question(text) == types


@pytest.mark.parametrize("text", [
    "what rights do I have to deletion?",   # about the right: the policy answer, with the offer
    "do I have a right to get my data erased?",
    "can you delete my account?",            # a polite instruction: the request starts as it is
    "delete my data",
])
def test_not_a_request_in_a_question(text):
    assert requests_in_question(text) == []


def test_a_complaint_about_an_earlier_request_names_what_must_stop():
    text = "I asked you to delete my data last month and you still email me. this is illegal"
    assert sounds_like_complaint(text)
    assert requested_types(text) == [D, M]


@pytest.mark.parametrize("text", ["I'm really unhappy with this", "you never replied to me",
                                  "I'm still getting your newsletters after unsubscribing"])
def test_complaints(text):
    assert sounds_like_complaint(text)


@pytest.mark.parametrize("text, expected", [
    ("what do you do with my webcam video?", True),
    ("who can see the chat logs of my class", True),
    ("does your AI listen to my meetings", True),
    ("is my screen sharing recorded", True),
    ("my webcam doesn't work", False),        # technical support, no data in it
    ("what's the weather like", False),
])
def test_privacy_questions_about_the_products(text, expected):
    assert about_product_data(text) is expected

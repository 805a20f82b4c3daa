"""End to end over REST with the trained model: plain questions get a straight
answer with a link (and the runner-up as "Also see"), silent subjects get "the
policy doesn't say", and odd input gets a sensible reply, never an error."""
from __future__ import annotations

import re
import uuid

import pytest

from tests.support.stack import Stack, reply_text

pytestmark = pytest.mark.e2e
LINK = re.compile(r"\]\([^)\s]*#([a-z0-9-]+)\)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("stack")).start()
    yield running
    running.stop()


def ask(stack, text):
    replies = stack.say(f"t-{uuid.uuid4().hex}", text)
    return replies, reply_text(replies)


@pytest.mark.parametrize("question, section", [
    ("r u guys selling my stuff to advertisers", "data-sale"),
    ("how long does the app hold on to my messages", "retention"),
    ("can the people in my class see my email", "presenters"),
])
def test_plain_questions_get_a_straight_answer(stack, question, section):
    replies, text = ask(stack, question)
    assert section in LINK.findall(text)
    assert "did you mean" not in text.lower()


def test_answers_offer_a_runner_up(stack):
    """A close second section is offered as "Also see", or, when the two are nearly tied,
    answered too in one sentence with its own link (issue 24): either way the visitor
    reaches both sections."""
    replies, text = ask(stack, "does the app keep a record of my activity")
    titles = [b["title"] for r in replies for b in (r.get("buttons") or [])]
    assert any(t.startswith("Also see: ") for t in titles) or len(set(LINK.findall(text))) >= 2, text


@pytest.mark.parametrize("question", ["is the app free to use", "does it need my microphone all the time"])
def test_silent_subjects_are_admitted(stack, question):
    _, text = ask(stack, question)
    assert "doesn't say" in text and not LINK.findall(text)


@pytest.mark.parametrize("message", ["", "   ", "😀🔥👍", "x" * 2000, "privacy " * 250,
                                     "我的資料會被保存多久？", "¿venden mis datos?"])
def test_odd_input_gets_a_reply_not_an_error(stack, message):
    replies = stack.say(f"t-{uuid.uuid4().hex}", message)
    assert replies and all((r.get("text") or r.get("buttons")) for r in replies)
    assert "Traceback" not in stack.logs()

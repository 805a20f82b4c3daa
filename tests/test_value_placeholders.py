"""Addresses and codes reach the classifier as placeholders (issue 24, point 6):
what a message means must not depend on the characters of an address in it."""
from __future__ import annotations

import asyncio
import random
import string

import pytest
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.nlu.value_placeholders import ValuePlaceholders, with_placeholders
from imago_core.identity.codes import value_spans

SENTENCE = "oops that is my old mail, use {address} please"


def random_address(rng: random.Random) -> str:
    """Addresses whose parts are words the classifier knows, too ("cancel.stop@…")."""
    words = ["cancel", "stop", "delete", "spam", "human", "help", "copy", "export", "no", "yes", "privacy"]
    local_parts = [rng.choice(words), "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(3, 12)))]
    local = rng.choice([".", "-", "_", "+", ""]).join(rng.sample(local_parts, 2))
    domain = rng.choice(["example.org", "mail.example.co.uk", "delete-me.net", "stop.io", "x.org"])
    return f"{local}@{domain}"


def fifty_addresses():
    rng = random.Random(24)
    return [random_address(rng) for _ in range(50)]


def tokens_of(text: str):
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    message = Message({"text": text})
    message.set("text_tokens", tokenizer.tokenize(message, "text"))
    ValuePlaceholders().process([message])
    return message.get("text_tokens")


def test_fifty_random_addresses_give_the_classifier_the_same_tokens():
    seen = {tuple(t.text for t in tokens_of(SENTENCE.format(address=a))) for a in fifty_addresses()}
    assert seen == {("oops", "that", "is", "my", "old", "mail", "use", "email", "please")}


def test_a_code_split_over_tokens_becomes_one_placeholder_over_its_characters():
    text = "the code is 482 913, thanks"
    tokens = tokens_of(text)
    assert [t.text for t in tokens] == ["the", "code", "is", "code", "thanks"]
    code = tokens[3]
    assert text[code.start:code.end] == "482 913"


def test_digits_inside_an_address_are_the_address_not_a_code():
    assert [kind for _, _, kind in value_spans("it's jo.552193@x.org, code 123456")] == ["email", "code"]


def test_a_message_without_values_keeps_its_tokens():
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    message = Message({"text": "how long do you keep my data"})
    tokens = tokenizer.tokenize(message, "text")
    assert with_placeholders(message.get("text"), tokens) == tokens


def test_training_examples_get_placeholders_too():
    tokenizer = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config())
    message = Message({"text": "it's jane@example.org", "intent": "inform"})
    message.set("text_tokens", tokenizer.tokenize(message, "text"))
    ValuePlaceholders().process_training_data(TrainingData([message]))
    assert [t.text for t in message.get("text_tokens")][-1] == "email"
    assert message.get("text") == "it's jane@example.org"  # the actions still read the address


@pytest.mark.e2e
def test_the_trained_model_reads_one_intent_for_fifty_random_addresses():
    from rasa.core.agent import Agent

    from tests.support.stack import trained_model

    agent = Agent.load(trained_model())

    async def intents():
        return {(await agent.parse_message(SENTENCE.format(address=a)))["intent"]["name"] for a in fifty_addresses()}

    found = asyncio.run(intents())
    assert len(found) == 1, found

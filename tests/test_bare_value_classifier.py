"""extensions/nlu/bare_value_classifier.py: a bare address or code is `inform`."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from extensions.nlu.bare_value_classifier import BareValueClassifier, is_bare_value


@pytest.mark.parametrize("text", [
    "cancel.anna@example.org", " stop-spam@example.co.uk ", "<delete.me@school.edu>", "optout@example.org.",
    "482913", "482 913", "482-913",
])
def test_bare_values(text):
    assert is_bare_value(text)


@pytest.mark.parametrize("text", [
    "cancel", "cancel, my address is anna@example.org", "stop emails to anna@example.org",
    "4829131", "my code is 482913 thanks", "", "a@b", "@" * 500, "x" * 300 + "@example.org" + " y",
])
def test_anything_more_is_left_to_the_classifier(text):
    assert not is_bare_value(text)


def test_the_component_makes_a_bare_address_inform_and_leaves_other_messages():
    bare = Message(data={"text": "cancel.anna@example.org", "intent": {"name": "cancel", "confidence": 0.6},
                         "intent_ranking": [{"name": "cancel", "confidence": 0.6},
                                            {"name": "inform", "confidence": 0.3}]})
    other = Message(data={"text": "cancel please", "intent": {"name": "cancel", "confidence": 0.9},
                          "intent_ranking": [{"name": "cancel", "confidence": 0.9}]})
    BareValueClassifier().process([bare, other])
    assert bare.get("intent") == {"name": "inform", "confidence": 1.0}
    assert [r["name"] for r in bare.get("intent_ranking")] == ["inform", "cancel"]
    assert bare.get("intent_ranking")[1]["confidence"] == 0.0
    assert other.get("intent")["name"] == "cancel"

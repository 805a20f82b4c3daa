"""A message that is nothing but an email address or a one-time code is an answer.

In the request flow the visitor is asked for an address and then a code, and the
reply is the bare value. The classifier reads meaning into such a value's words:
"cancel.anna@example.org" or "stop-spam@example.org" looked like "cancel" or a
marketing opt-out, and the form stopped instead of sending a code. A bare value
names no intent, so this component (after the classifier, before the
FallbackClassifier) makes it `inform` with full confidence; anything with another
word in it ("cancel, my address is ...") is left to the classifier. What counts as an
address or a code is the request flow's own reading (imago_core.identity.codes).
"""
from __future__ import annotations

from typing import Optional

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from extensions.nlu.fixed_intent import FixedIntentClassifier
from imago_core.identity.codes import is_only_email_or_code as is_bare_value

INFORM = "inform"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class BareValueClassifier(FixedIntentClassifier):
    intent = INFORM

    def matches(self, text: Optional[str]) -> bool:
        return is_bare_value(text)

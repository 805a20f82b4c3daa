"""A message written in another language is `out_of_scope` for this English-only
assistant, whatever its character n-grams resemble ("Daten löschen" shares
letters with several intents). action_out_of_scope then tells the visitor which
language it reads and who can help (imago_core.language decides what counts)."""
from __future__ import annotations

from typing import Optional

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from extensions.nlu.fixed_intent import FixedIntentClassifier
from imago_core.language import in_other_language


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OtherLanguageClassifier(FixedIntentClassifier):
    intent = "out_of_scope"

    def matches(self, text: Optional[str]) -> bool:
        return in_other_language(text)

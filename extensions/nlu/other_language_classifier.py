"""A message written in another language is `out_of_scope` for this English-only
assistant, whatever its character n-grams resemble ("Daten löschen" shares
letters with several intents). action_out_of_scope then tells the visitor which
language it reads and who can help (imago_core.language decides what counts)."""
from __future__ import annotations

import re
from typing import Optional

from rasa.engine.recipes.default_recipe import DefaultV1Recipe

from extensions.nlu.fixed_intent import FixedIntentClassifier
from imago_core.language import in_other_language

_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OtherLanguageClassifier(FixedIntentClassifier):
    intent = "out_of_scope"

    def matches(self, text: Optional[str]) -> bool:
        # Chinese is understood now (issue 22: data/nlu/zh/, the multilingual encoder):
        # the classifier decides. (The replies-in-the-visitor's-language work replaces
        # this rule with its own language detection.)
        return in_other_language(text) and not _CHINESE.search(text or "")

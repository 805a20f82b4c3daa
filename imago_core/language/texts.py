"""Every text a visitor reads, per language, from `data/texts/<language>.yml`.

Each file has `utterances:` (the domain's `utter_*` responses: `text` and the titles
of their `buttons`, in the domain's order; not called `responses:`, which Rasa would
read as response-selector training data, since the files sit under data/) and `texts:` (what the actions and the
core compose: keys like `request.filed.one`, `{name}` placeholders filled by
`str.format`). The Rasa server's NLG (extensions/nlg.py) and the action server read
the same files through this module; tests/test_texts.py fails when a language lacks
a key or its placeholders differ from English.
"""
from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from imago_core.language.choice import ANSWERED, DEFAULT
from imago_core.settings import PROJECT_ROOT

TEXTS_DIR = PROJECT_ROOT / "data" / "texts"


class Texts:
    def __init__(self, language: str, responses: Dict[str, Dict[str, Any]], texts: Dict[str, str],
                 name: str = ""):
        self.language, self.responses, self.texts, self.name = language, responses, texts, name or language

    @classmethod
    def load(cls, language: str, directory: Path = TEXTS_DIR) -> "Texts":
        data = yaml.safe_load((directory / f"{language}.yml").read_text(encoding="utf-8")) or {}
        return cls(language, data.get("utterances") or {}, data.get("texts") or {}, data.get("name") or "")

    def get(self, key: str, **params: Any) -> str:
        return self.texts[key].format(**params) if params else self.texts[key]

    def response(self, name: str) -> Optional[Dict[str, Any]]:
        return self.responses.get(name)


@functools.lru_cache(maxsize=None)
def texts_for(language: str) -> Texts:
    return Texts.load(language if language in ANSWERED else DEFAULT)


def text(language: str, key: str, **params: Any) -> str:
    """The text `key` in `language` (English for a language not answered)."""
    return texts_for(language).get(key, **params)


def bilingual(language: str, key: str, **params: Any) -> str:
    """The text in the visitor's language with the English below it (mails): the
    English is the binding version, and a reader who forwards it is understood."""
    own = text(language, key, **params)
    if language == DEFAULT:
        return own
    return f"{own}\n\n----- English -----\n\n{text(DEFAULT, key, **params)}"


def language_label(language: Optional[str]) -> str:
    """"繁體中文 (zh-Hant)" for staff: which language to answer the visitor in."""
    if language not in ANSWERED:
        return "English (en)"
    return f"{texts_for(language).name} ({language})"


def placeholders(template: str) -> List[str]:
    return sorted({name for _, name, _, _ in string.Formatter().parse(template) if name})

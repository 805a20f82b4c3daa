"""Which language a reply is written in, from the conversation's language slots.

`language` is set from every message (its detected language, imago_core.language.detect);
`language_choice` only when the visitor asks for one ("please answer in English",
"請用中文"), and it holds until they ask for another: someone who asked for English
answers may well keep typing Chinese. Both edges (the Rasa server's NLG and the
action server) resolve the reply language here, so they always agree.
"""
from __future__ import annotations

from typing import Iterable, Optional

ANSWERED = ("en", "zh-Hant", "zh-Hans")
DEFAULT = "en"
_CHINESE = ("zh-Hant", "zh-Hans")
# Hong Kong is IMAGO's home: Chinese whose script nothing tells is answered in Traditional.
DEFAULT_CHINESE = "zh-Hant"


def _chinese_from(earlier: Iterable[Optional[str]]) -> str:
    for value in reversed(list(earlier)):
        if value in _CHINESE:
            return value
    return DEFAULT_CHINESE


def reply_language(current: Optional[str], choice: Optional[str] = None,
                   earlier: Iterable[Optional[str]] = ()) -> str:
    """The reply language. `earlier` is every value the language slots held before,
    oldest first: "zh" (Chinese of either script) keeps the conversation's script."""
    earlier = list(earlier)
    if choice in ANSWERED:
        return choice
    if choice == "zh":
        return current if current in _CHINESE else _chinese_from(earlier)
    if current in ANSWERED:
        return current
    if current == "zh":
        return _chinese_from(earlier)
    return DEFAULT  # None (nothing read yet) or a language the assistant doesn't answer in


def needs_language_notice(current: Optional[str], choice: Optional[str] = None) -> bool:
    """A message in a language not answered gets the English reply plus one line
    that says which languages are answered."""
    return current == "other" and choice not in (*ANSWERED, "zh")

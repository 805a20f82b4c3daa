"""Whitespace tokenizer that also splits Chinese (and Japanese kana) text into one
token per character, and writes Simplified and Traditional characters alike.

Why not JiebaTokenizer: Rasa 3.6 accepts it only with `language: zh`, and this is one
model for English and Chinese; English keeps `language: en` and the whitespace rules it
was tuned with. Why characters, not words: written Cantonese (哋 嘅 咗 冇 啲) and
code-mixed text ("你哋會唔會 keep 住我個 email") are outside Jieba's Mandarin
dictionary, so it segments them badly, while single characters plus the word
featurizer's bigrams of them (ngram_range [1, 2]) give the classifier every one- and
two-character word without a dictionary. The sentence encoder reads the whole text,
not these tokens.

Script: each Chinese token's text is converted to Simplified with OpenCC (`t2s`), so
資料/资料 and 刪除/删除 are one feature. Traditional to Simplified, not the other way:
it is many-to-one (裏/裡 → 里, 著/着 → 着), so every variant lands on one spelling. The
conversion keeps the text's length, so offsets stay those of the original message.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.training_data.message import Message

# CJK ideographs (basic, extension A, compatibility, extensions B+) and Japanese kana:
# scripts written without spaces between words.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
# Punctuation of those scripts that the whitespace rules keep when it sits between two
# characters ("資料、紀錄"): never a token of its own.
_CJK_PUNCTUATION = re.compile(r"[\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]+")


@functools.lru_cache(maxsize=4)
def script_converter(config: str):
    """OpenCC converter, loaded once per process (a few ms, a few MB)."""
    import opencc

    return opencc.OpenCC(config)


def normalise_script(text: str, config: Optional[str] = "t2s") -> str:
    """The text with Chinese characters converted by OpenCC (`t2s`: to Simplified);
    unchanged when `config` is None or the text has no Chinese."""
    if not config or not text or not _UNSPACED.search(text):
        return text
    converted = script_converter(config).convert(text)
    # Character-for-character conversions only: a phrase that changed length would
    # move every offset after it, so such a text keeps its own characters.
    return converted if len(converted) == len(text) else "".join(
        script_converter(config).convert(c) if len(script_converter(config).convert(c)) == 1 else c for c in text)


def split_unspaced(token: Token, normalised_text: str) -> List[Token]:
    """A token with Chinese characters in it, as one token per character and one per
    run of other letters ("keep住我個email" → keep, 住, 我, 個, email)."""
    pieces: List[Token] = []
    run_start = None

    def close_run(end: int) -> None:
        nonlocal run_start
        if run_start is not None:
            text = normalised_text[run_start:end]
            stripped = text.strip()
            if stripped and not _CJK_PUNCTUATION.fullmatch(stripped):
                pieces.append(Token(stripped, token.start + run_start + text.index(stripped)))
            run_start = None

    for offset, char in enumerate(normalised_text):
        if _UNSPACED.match(char) or _CJK_PUNCTUATION.match(char):
            close_run(offset)
            if _UNSPACED.match(char):
                pieces.append(Token(char, token.start + offset))
        elif run_start is None:
            run_start = offset
    close_run(len(normalised_text))
    return pieces


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class HanSplittingTokenizer(WhitespaceTokenizer):
    """WhitespaceTokenizer, with Chinese split into characters (module docstring)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **WhitespaceTokenizer.get_default_config(),
            # OpenCC configuration applied to Chinese tokens; None keeps the script.
            "script": "t2s",
        }

    @staticmethod
    def required_packages() -> List[Text]:
        return ["opencc"]

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "HanSplittingTokenizer":
        return cls(config)

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        text = message.get(attribute) or ""
        if not _UNSPACED.search(text):
            return tokens
        normalised = normalise_script(text, self._config.get("script"))
        # Every Chinese character is a token, read from the text itself: Rasa's emoji
        # filter drops whole tokens of Chinese characters ("你哋會唔會" matches its
        # emoji pattern), so the whitespace tokens cannot be relied on for them.
        out = {m.start(): Token(normalised[m.start()], m.start()) for m in _UNSPACED.finditer(text)}
        for token in tokens:
            if _UNSPACED.search(token.text):
                pieces = split_unspaced(token, normalised[token.start:token.end])
            else:
                pieces = [token]
            for piece in pieces:
                out.setdefault(piece.start, piece)
        return [out[start] for start in sorted(out)]

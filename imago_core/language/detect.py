"""A message's language, read by script rules, not by a language identifier.

Short and code-mixed chat ("你哋會唔會 keep 住我個 email？") fools statistical
detectors, so this reads scripts: Han characters make a message Chinese when they
carry at least two fifths of it (each Han character counts as one word) or when a
Cantonese particle appears; OpenCC tells Traditional from Simplified by which
characters its converters would change; Japanese kana, other scripts, and Latin
text made of another language's commonest words (German, Spanish…) are "other".

The values: "en", "zh-Hant", "zh-Hans", "zh" (Chinese whose script can't be told,
such as "好" or "是的": the reply keeps the conversation's Chinese), "other", or None
when there is nothing to read a language from (an address, a code, emoji).
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Optional

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_ADDRESS = re.compile(r"\S+@\S+|https?://\S+")
# Written Cantonese: these mark Hong Kong writing even when no character tells the script.
_CANTONESE = re.compile(r"[哋嘅唔咗冇啲嚟喺佢係咩乜嘢㗎囉喎噉畀俾睇攞嗰啱嘞咪點解]")

# Common short words of languages written in Latin letters, that are not English words.
_FOREIGN_WORDS = frozenset("""
ich nicht und der die das ist sind mein meine meinen meiner mich mir sie ihr ihre wir bitte daten löschen
möchte mochte haben wie warum wann wer welche kann können konnen sein über uber auch oder aber wenn
je ne pas les des est sont mon mes moi vous votre vos nous avec pour données donnees supprimer
veux voudrais comment pourquoi quand qui quel quelle sur dans une cette ces merci
yo mi mis tu su sus usted ustedes nosotros los las el es son por para con cómo como qué que
quiero quisiera datos borrar eliminar gracias hola cuando donde está esta
io il gli della dei sono miei tuoi voglio vorrei dati cancellare perché perche grazie ciao
eu meu minha meus minhas você voce não nao obrigado dados apagar excluir quero gostaria
ik niet mijn jij jullie wij gegevens verwijderen wil graag hoe waarom wanneer dank
""".split())
# Common English words: a message counts as foreign only when its foreign words outnumber these.
_ENGLISH_WORDS = frozenset("""
i me my mine you your yours we our they them their he she it its is are was were be been do does did
have has had the a an and or but if of to in on at for with from by about what why how when where who
which can could will would should may might must not no yes please data delete copy information info
personal email address account privacy policy company app share sell keep store use collect
""".split())


def _is_latin(char: str) -> bool:
    return "LATIN" in unicodedata.name(char, "")


@functools.lru_cache(maxsize=1)
def _converters():
    import opencc  # a PyPI package with its own dictionaries; loaded once per process

    return opencc.OpenCC("t2s"), opencc.OpenCC("s2t")


def chinese_script(text: str) -> str:
    """"zh-Hant", "zh-Hans" or "zh" (nothing tells them apart) for Chinese text."""
    han = "".join(_HAN.findall(text))
    to_simplified, to_traditional = _converters()
    simplified, traditional = to_simplified.convert(han), to_traditional.convert(han)
    # Characters t2s changes are Traditional-only; those s2t changes are Simplified-only.
    trad = sum(1 for a, b in zip(han, simplified) if a != b) if len(simplified) == len(han) else 0
    simp = sum(1 for a, b in zip(han, traditional) if a != b) if len(traditional) == len(han) else 0
    if trad > simp:
        return "zh-Hant"
    if simp > trad:
        return "zh-Hans"
    return "zh-Hant" if _CANTONESE.search(text) else "zh"


def detect_language(text: Optional[str]) -> Optional[str]:
    text = _ADDRESS.sub(" ", text or "")
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None  # emoji, digits, punctuation: nothing to read a language from
    if _KANA.search(text):
        return "other"  # Japanese writes Han characters too; kana tell it apart
    han = len(_HAN.findall(text))
    latin_words = [w.lower() for w in _WORD.findall(text) if all(_is_latin(c) for c in w)]
    if han and (han / (han + len(latin_words)) >= 0.4 or _CANTONESE.search(text)):
        return chinese_script(text)  # mixed Cantonese–English counts as Chinese
    other_script = sum(1 for c in letters if not _is_latin(c) and not _HAN.match(c))
    if other_script / len(letters) > 0.5:
        return "other"
    if not latin_words:
        return "en" if han == 0 else chinese_script(text)
    foreign = sum(1 for w in latin_words if w in _FOREIGN_WORDS)
    english = sum(1 for w in latin_words if w in _ENGLISH_WORDS)
    return "other" if foreign >= 2 and foreign > english else "en"


def in_other_language(text: Optional[str]) -> bool:
    """True when the message is written in a language the assistant does not answer in."""
    return detect_language(text) == "other"


# Explicit requests for a language. "Chinese" without a script is "zh": the script of
# the message that asks ("請用中文" is Traditional) or else the conversation's decides.
_ASK_ENGLISH = re.compile(
    r"\b(?:answer|reply|respond|speak|talk|write|say it|tell me|continue|switch)\w*\b[^.?!]{0,25}\b(?:in|to) english\b"
    r"|\benglish,? please\b|^\W*(?:in )?english\W*$|\bcan you speak english\b"
    r"|(?:用|講|讲|說|说|以|轉|转|改|返)\s*(?:返)?\s*(?:英文|英語|英语)|(?:英文|英語|英语)\s*(?:回答|回覆|回复|答|講|讲|傾|倾)",
    re.I)
_ASK_TRADITIONAL = re.compile(r"繁體|繁体|traditional chinese|廣東話|广东话|粵語|粤语|\bin cantonese\b", re.I)
_ASK_SIMPLIFIED = re.compile(r"簡體|简体|简中|simplified chinese|普通话|普通話", re.I)
_ASK_CHINESE = re.compile(
    r"(?:用|講|讲|說|说|以|轉|转|改|返)\s*(?:返)?\s*(?:中文|華語|华语|國語|国语)|(?:中文)\s*(?:回答|回覆|回复|答|講|讲|傾|倾)"
    r"|\b(?:answer|reply|respond|speak|talk|write|switch|continue)\w*\b[^.?!]{0,25}\b(?:in|to) chinese\b"
    r"|\bchinese,? please\b|^\W*(?:in )?chinese\W*$", re.I)
# What may surround a request that asks for nothing else ("please", "can you", "thanks").
_POLITE = re.compile(
    r"\b(?:please|pls|plz|can|could|would|you|u|i|we|want|wanna|like|prefer|answer|reply|respond|speak|talk|write|"
    r"me|to|in|from|now|on|thanks|thank|ok|okay|switch|continue|say|it|tell|language|instead|the|rest|"
    r"english|chinese|traditional|simplified|cantonese)\b"
    r"|請|请|可唔可以|可不可以|可以|能|唔該|唔该|麻煩|麻烦|你|我|用|講|讲|說|说|以|轉|转|改|返|同|跟|和|回答|回覆|回复|答|"
    r"傾|倾|中文|英文|英語|英语|繁體|繁体|簡體|简体|廣東話|广东话|普通話|普通话|粵語|粤语|字|吧|啦|喇|呀|啊|嗎|吗|謝謝|谢谢|"
    r"之後|之后|以後|以后|由而家起|從現在開始|从现在开始|好嗎|好吗|得唔得|行不行|一下|都|全部|入面|版|好|嘅|的",
    re.I)


def explicit_choice(text: Optional[str]) -> Optional[str]:
    """The language a message explicitly asks to be answered in, or None."""
    text = text or ""
    if _ASK_SIMPLIFIED.search(text):
        return "zh-Hans"
    if _ASK_TRADITIONAL.search(text):
        return "zh-Hant"
    if _ASK_ENGLISH.search(text):
        return "en"
    if _ASK_CHINESE.search(text):
        script = detect_language(text)
        return script if script in ("zh-Hant", "zh-Hans") else "zh"
    return None


def asks_only_for_language(text: Optional[str]) -> bool:
    """True for a message that asks for a language and nothing else ("please answer in
    English", "請用中文"): it is not a question for the classifier to place."""
    if explicit_choice(text) is None:
        return False
    rest = _POLITE.sub(" ", (text or "").lower())
    return not re.search(r"[^\W\d_]", rest)

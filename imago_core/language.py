"""Whether a message is written in a language other than English.

The assistant understands English only (for now). A message in another language
must not get "I can only help with IMAGO's privacy policy" when it asks exactly
that, nor a did-you-mean built from character n-grams. This is a small reader,
not a language identifier: other scripts by their letters, languages written in
Latin letters by their commonest short words. A message that mixes English in
("我想 delete my data") counts as English: the English words carry its meaning.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Optional

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

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


def in_other_language(text: Optional[str]) -> bool:
    """True when the message is written in a language other than English."""
    text = text or ""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False  # emoji, digits, punctuation: nothing to read a language from
    other_script = sum(1 for c in letters if not _is_latin(c))
    if other_script / len(letters) > 0.5:
        return True
    words = [w.lower() for w in _WORD.findall(text) if all(_is_latin(c) for c in w)]
    if not words:
        return False
    foreign = sum(1 for w in words if w in _FOREIGN_WORDS)
    english = sum(1 for w in words if w in _ENGLISH_WORDS)
    return foreign >= 2 and foreign > english

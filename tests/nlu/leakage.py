"""Finds training examples that copy, or nearly copy, an evaluation question.

Texts are compared after normalising case, punctuation and spacing. Two texts are
near-duplicates when their word sets overlap a lot (Jaccard over tokens) and
their character 3-grams do too, or when the character 3-grams alone overlap very
much (a misspelt or re-spaced copy). Thresholds: a real question and a training
example that only share the topic ("how long do you keep my data" / "how long is
my data kept") stay under them; a copy with a word swapped, added or misspelt goes
over.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, List, Set, Tuple

WORD_JACCARD_LIMIT = 0.7
CHAR_TRIGRAM_WITH_WORDS_LIMIT = 0.6
CHAR_TRIGRAM_JACCARD_LIMIT = 0.8


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def _words(text: str) -> Set[str]:
    return set(text.split())


def _trigrams(text: str) -> Set[str]:
    padded = f" {text} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


def _jaccard(a: Set[str], b: Set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_copies(training: Iterable[str], questions: Iterable[str]) -> List[Tuple[str, str, str]]:
    """(training example, question, why) for every copy or near-copy."""
    found = []
    prepared = [(q, normalise(q)) for q in questions]
    prepared = [(q, n, _words(n), _trigrams(n)) for q, n in prepared]
    for example in training:
        norm = normalise(example)
        words, grams = _words(norm), _trigrams(norm)
        for question, q_norm, q_words, q_grams in prepared:
            if norm == q_norm:
                found.append((example, question, "same text"))
                continue
            word_overlap, char_overlap = _jaccard(words, q_words), _jaccard(grams, q_grams)
            if (word_overlap >= WORD_JACCARD_LIMIT and char_overlap >= CHAR_TRIGRAM_WITH_WORDS_LIMIT) \
                    or char_overlap >= CHAR_TRIGRAM_JACCARD_LIMIT:
                found.append((example, question, f"overlap: words {word_overlap:.2f}, characters {char_overlap:.2f}"))
    return found

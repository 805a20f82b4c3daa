"""BERT's uncased WordPiece tokenizer in pure Python (what `BertTokenizer` does for
all-MiniLM-L6-v2), so the encoder needs no `tokenizers`/`transformers` install.

Basic step: drop control characters, put spaces around CJK characters (each Han
character is its own token: this is what lets a multilingual vocabulary handle
Chinese later), lower-case, strip accents, split off punctuation. Then greedy
longest-match WordPiece against the model's vocab.txt.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Dict, List

MAX_CHARS_PER_WORD = 100  # longer "words" become [UNK], as in BERT


def _is_control(char: str) -> bool:
    if char in "\t\n\r":
        return False
    return unicodedata.category(char).startswith("C")


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    # BERT treats all non-letter/number ASCII as punctuation ("$", "^", "`" too).
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def basic_tokens(text: str) -> List[str]:
    chars = []
    for char in text:
        cp = ord(char)
        if cp == 0 or cp == 0xFFFD or _is_control(char):
            continue
        if _is_cjk(cp):
            chars.extend((" ", char, " "))
        elif _is_whitespace(char):
            chars.append(" ")
        else:
            chars.append(char)
    tokens: List[str] = []
    for word in "".join(chars).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(c for c in word if unicodedata.category(c) != "Mn")
        current = ""
        for char in word:
            if _is_punctuation(char):
                if current:
                    tokens.append(current)
                tokens.append(char)
                current = ""
            else:
                current += char
        if current:
            tokens.append(current)
    return tokens


class WordPiece:
    def __init__(self, vocab: Dict[str, int], unk: str = "[UNK]"):
        self.vocab = vocab
        self.unk = unk
        self.unk_id = vocab[unk]
        self.cls_id, self.sep_id, self.pad_id = vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"]

    @classmethod
    def from_file(cls, path: Path) -> "WordPiece":
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls({token: index for index, token in enumerate(lines)})

    def word_pieces(self, word: str) -> List[str]:
        if len(word) > MAX_CHARS_PER_WORD:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return [self.unk]
            pieces.append(found)
            start = end
        return pieces

    def tokenize(self, text: str) -> List[str]:
        return [piece for word in basic_tokens(text) for piece in self.word_pieces(word)]

    def encode(self, text: str, max_length: int) -> List[int]:
        """[CLS] pieces [SEP], truncated to max_length ids in all."""
        ids = [self.vocab.get(piece, self.unk_id) for piece in self.tokenize(text)]
        return [self.cls_id, *ids[: max_length - 2], self.sep_id]

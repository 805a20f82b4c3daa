"""The Chinese held-out set (tests/nlu/zh_heldout.yml) is for measuring only: no
training example may copy it or nearly copy it, in either script.

Chinese has no spaces, so before the English check (tests/nlu/leakage.py) both
sides are converted to Simplified (a Traditional copy of a Simplified question is
a copy) and every Chinese character becomes a word of its own: the word overlap is
then the character overlap, and the character trigrams are pairs of characters.

The set must stay blind to the people writing training data: a failure names the
training example and the held-out item's number, never the held-out question.
"""
from pathlib import Path

import pytest
import yaml

from extensions.nlu.han_tokenizer import normalise_script
from tests.nlu.leakage import near_copies
from tests.nlu.test_no_real_questions_in_training import _training_examples

ROOT = Path(__file__).resolve().parents[2]
ZH_HELDOUT = ROOT / "tests/nlu/zh_heldout.yml"


def spaced(text: str) -> str:
    """Simplified script, one word per Chinese character ("你哋會唔會 keep" -> "你 哋 会 唔 会 keep")."""
    out = []
    for char in normalise_script(text, "t2s"):
        out.append(f" {char} " if "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" else char)
    return " ".join("".join(out).split())


def _zh_questions():
    return [item["q"] for item in yaml.safe_load(ZH_HELDOUT.read_text(encoding="utf-8"))["items"]]


def zh_near_copies(training, questions):
    """(training example, held-out item number, why) for every copy or near-copy."""
    index = {spaced(q): n for n, q in enumerate(questions, 1)}
    spaced_training = {spaced(t): t for t in training}
    return [(spaced_training[example], index[question], why)
            for example, question, why in near_copies(list(spaced_training), list(index))]


def test_the_chinese_set_is_there_and_large_enough():
    questions = _zh_questions()
    assert len(questions) >= 150
    assert sum(any("\u4e00" <= c <= "\u9fff" for c in q) for q in questions) >= 150


def test_there_is_chinese_training_data():
    chinese = [t for t in _training_examples() if any("\u4e00" <= c <= "\u9fff" for c in t)]
    assert len(chinese) >= 500, "data/nlu/zh/ not found"


def test_no_training_example_copies_or_nearly_copies_a_chinese_held_out_question():
    copies = zh_near_copies(_training_examples(), _zh_questions())
    assert not copies, "training data copies the Chinese held-out set (held-out text not shown):\n" + "\n".join(
        f"  {example!r} ~ held-out item {number} ({why})" for example, number, why in copies)


QUESTION = "你哋會唔會賣我嘅資料？"


@pytest.mark.parametrize("copy", [
    "你哋会唔会卖我嘅资料",        # the same in Simplified characters
    "你哋會唔會賣我嘅資料呀？",      # a particle added
    "你哋會唔會賣我啲資料？",        # a character swapped
    "你 哋 會 唔 會 賣 我 嘅 資 料",  # spaced out
])
def test_the_check_catches_chinese_copies(copy):
    assert zh_near_copies([copy], [QUESTION])


@pytest.mark.parametrize("other", [
    "你們會出售我的個人資料嗎？",
    "你们会把用户数据卖给别人吗",
    "你哋會 keep 住我啲資料幾耐？",
])
def test_the_check_lets_other_chinese_wordings_pass(other):
    assert not zh_near_copies([other], [QUESTION])

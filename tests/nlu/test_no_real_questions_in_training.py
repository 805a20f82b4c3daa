"""The evaluation sets are for measuring only: no training example may copy, or
nearly copy, a question of the real visitors' set (tests/nlu/real_questions.yml) or
of the fresh held-out set a separate author wrote (tests/nlu/fresh_questions.yml,
issue 24). Failures name the training example's file and line and how many
questions it resembles, never a question: nobody here reads those sets."""
from pathlib import Path
from typing import List, Tuple

import pytest
import yaml

from tests.nlu.leakage import near_copies, normalise

ROOT = Path(__file__).resolve().parents[2]
SETS = {"real": "tests/nlu/real_questions.yml", "fresh": "tests/nlu/fresh_questions.yml"}


def _questions(name: str) -> List[str]:
    return [item["q"] for item in yaml.safe_load((ROOT / SETS[name]).read_text())["items"]]


def _real_questions():
    return _questions("real")


def _located_training_examples() -> List[Tuple[str, str]]:
    """(file:line, text) of every training example."""
    found = []
    for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("- ") and not stripped.startswith("- intent:"):
                found.append((f"{path.relative_to(ROOT)}:{number}", stripped[2:]))
    return found


def _training_examples():
    return [text for _, text in _located_training_examples()]


def test_the_real_set_is_the_shared_one_with_its_licence():
    text = (ROOT / "tests/nlu/real_questions.yml").read_text()
    assert "PrivacyQA" in text and "MIT" in text
    assert len(_real_questions()) >= 300


def test_the_fresh_set_is_large_enough_and_by_its_own_author():
    questions = _questions("fresh")
    assert len(questions) >= 200
    if near_copies(_questions("real"), questions):
        pytest.fail("the fresh set repeats questions of the real one", pytrace=False)


@pytest.mark.parametrize("name", sorted(SETS))
def test_no_training_example_copies_or_nearly_copies_an_evaluation_question(name):
    located = _located_training_examples()
    assert len(located) > 1000, "training data not found"
    where = {}
    for place, text in located:
        where.setdefault(text, place)
    copies = near_copies([text for _, text in located], _questions(name))
    places = sorted({where[example] for example, _, _ in copies})
    # pytest.fail, not assert: assertion rewriting would print the questions themselves.
    if copies:
        pytest.fail(f"{len(copies)} near-copies of {name} questions; rewrite or remove the training examples "
                    f"at (the questions are not shown):\n  " + "\n  ".join(places), pytrace=False)


QUESTION = "Will my personal details be shared with third party companies?"


@pytest.mark.parametrize("copy", [
    "will my personal details be shared with third party companies",   # case, punctuation
    "Will  my personal details be shared with third-party companies?",  # spacing, hyphen
    "will my personal info be shared with third party companies",      # a word swapped
    "will my personal details be shared with 3rd party companies",     # "third" spelt 3rd
    "will my personal details be shared with other third party companies",  # a word added
    "will my persnal details be shared wiht third party companies",    # misspelt
])
def test_the_check_catches_copies(copy):
    assert near_copies([copy], [QUESTION])


@pytest.mark.parametrize("other", [
    "do they give my info to other companies",
    "is my data passed on to anyone",
    "how long do you keep my details",
])
def test_the_check_lets_other_wordings_of_a_topic_pass(other):
    assert not near_copies([other], [QUESTION])


def test_normalise():
    assert normalise("  Is MY data, SOLD?! ") == "is my data sold"

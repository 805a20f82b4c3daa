"""The real visitors' questions (tests/nlu/real_questions.yml) are for measuring
only: no training example may copy them or nearly copy them."""
from pathlib import Path

import pytest
import yaml

from tests.nlu.leakage import near_copies, normalise

ROOT = Path(__file__).resolve().parents[2]


def _real_questions():
    return [item["q"] for item in yaml.safe_load((ROOT / "tests/nlu/real_questions.yml").read_text())["items"]]


def _training_examples():
    texts = []
    for path in sorted((ROOT / "data" / "nlu").rglob("*.yml")):
        for block in yaml.safe_load(path.read_text()).get("nlu") or []:
            for line in (block.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.append(line[2:])
    return texts


def test_the_real_set_is_the_shared_one_with_its_licence():
    text = (ROOT / "tests/nlu/real_questions.yml").read_text()
    assert "PrivacyQA" in text and "MIT" in text
    assert len(_real_questions()) >= 300


def test_no_training_example_copies_or_nearly_copies_a_real_question():
    training = _training_examples()
    assert len(training) > 1000, "training data not found"
    copies = near_copies(training, _real_questions())
    assert not copies, "training data copies real questions:\n" + "\n".join(
        f"  {example!r} ~ {question!r} ({why})" for example, question, why in copies)


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

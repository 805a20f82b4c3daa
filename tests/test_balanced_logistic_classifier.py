"""The intent classifier (extensions/nlu/balanced_logistic_classifier.py): the
regression blended with the vote of the nearest training examples.

Messages here carry hand-made features: a sparse block (as the n-gram featurizers
add) and a dense sentence vector (as the sentence encoder adds), so the tests can
place a message exactly between intents.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from extensions.nlu.balanced_logistic_classifier import BalancedLogisticClassifier

DIM = 8


def message(text: str, dense, sparse=None, intent: str = None) -> Message:
    m = Message(data={TEXT: text, **({INTENT: intent} if intent else {})})
    row = np.zeros((1, 4)) if sparse is None else np.array([sparse], dtype=float)
    m.add_features(Features(scipy.sparse.coo_matrix(row), FEATURE_TYPE_SENTENCE, TEXT, "words"))
    if dense is not None:
        m.add_features(Features(np.array([dense], dtype=np.float32), FEATURE_TYPE_SENTENCE, TEXT, "minilm"))
    return m


def unit(i: int, j: int = None, share: float = 0.5) -> np.ndarray:
    v = np.zeros(DIM)
    v[i] = 1.0
    if j is not None:
        v = (1 - share) * v
        v[j] = share
    return v / np.linalg.norm(v)


def training() -> TrainingData:
    rng = np.random.default_rng(0)
    examples = []
    for index, intent in enumerate(["policy_sharing", "policy_retention", "policy_silent"]):
        for n in range(12):
            noise = rng.normal(0, 0.05, DIM)
            examples.append(message(f"{intent} {n}", unit(index) + noise, sparse=[index == 0, index == 1, index == 2, 1],
                                    intent=intent))
    return TrainingData(examples)


@pytest.fixture
def storage(tmp_path):
    return LocalModelStorage(tmp_path)


def trained(storage, **config):
    context = ExecutionContext(GraphSchema({}), "test")
    resource = Resource("clf")
    clf = BalancedLogisticClassifier.create({**BalancedLogisticClassifier.get_default_config(), **config},
                                            storage, resource, context)
    clf.train(training())
    return clf, resource, context


def ranking(clf, msg) -> dict:
    clf.process([msg])
    return {r["name"]: r["confidence"] for r in msg.get("intent_ranking")}


def test_the_vote_follows_the_nearest_examples_where_the_regression_cannot_tell(storage):
    # The sparse block says nothing (all zeros); the dense vector sits near sharing.
    probe = lambda: message("q", unit(0, 1, share=0.3))  # noqa: E731
    with_vote, _, _ = trained(storage, neighbours_weight=0.6)
    without, _, _ = trained(storage, neighbours_weight=0.0)
    voted, plain = ranking(with_vote, probe()), ranking(without, probe())
    assert max(voted, key=voted.get) == "policy_sharing"
    assert voted["policy_sharing"] > plain["policy_sharing"]
    assert sum(voted.values()) == pytest.approx(1.0, abs=1e-6)


def test_catch_all_intents_keep_the_regressions_probability(storage):
    probe = lambda: message("q", unit(2, 0, share=0.4))  # noqa: E731
    with_vote, _, _ = trained(storage, neighbours_weight=0.6)
    without, _, _ = trained(storage, neighbours_weight=0.0)
    assert ranking(with_vote, probe())["policy_silent"] == pytest.approx(ranking(without, probe())["policy_silent"])
    # and no silent example is in the memory that votes
    assert len(with_vote._memory) == 24


def test_a_message_with_nothing_to_embed_gets_the_regression_alone(storage):
    with_vote, _, _ = trained(storage, neighbours_weight=0.6)
    without, _, _ = trained(storage, neighbours_weight=0.0)
    # a zero vector: what a message with no word pieces leaves
    probe = lambda: message("", np.zeros(DIM), sparse=[0, 1, 0, 1])  # noqa: E731
    assert ranking(with_vote, probe()) == pytest.approx(ranking(without, probe()))


def test_the_vote_survives_persisting_and_loading(storage):
    clf, resource, context = trained(storage, neighbours_weight=0.6)
    loaded = BalancedLogisticClassifier.load({**BalancedLogisticClassifier.get_default_config(),
                                              "neighbours_weight": 0.6}, storage, resource, context)
    probe = lambda: message("q", unit(0, 1, share=0.3))  # noqa: E731
    assert loaded._memory is not None and loaded._memory.shape == clf._memory.shape
    assert ranking(loaded, probe()) == pytest.approx(ranking(clf, probe()))

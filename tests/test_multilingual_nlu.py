"""Chinese understanding (issue 22): the Han-splitting tokenizer, the multilingual
sentence encoder and featurizer, the vote's choice of encoder, and the blind
scoring of the Chinese held-out set."""
from __future__ import annotations

import json

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message

from bench import zh_eval
from extensions.nlu.balanced_logistic_classifier import BalancedLogisticClassifier
from extensions.nlu.han_tokenizer import HanSplittingTokenizer, normalise_script
from extensions.nlu.multilingual_encoder import load_encoder
from extensions.nlu.multilingual_featurizer import MultilingualSentenceFeaturizer


def tokens(text, **config):
    tokenizer = HanSplittingTokenizer({**HanSplittingTokenizer.get_default_config(), **config})
    return [(t.text, t.start, t.end) for t in tokenizer.tokenize(Message(data={TEXT: text}), TEXT)]


def test_chinese_is_one_token_per_character_in_simplified_at_the_original_offsets():
    text = "你哋會唔會 keep 住我個 email？"
    got = tokens(text)
    assert [t for t, _, _ in got] == ["你", "哋", "会", "唔", "会", "keep", "住", "我", "个", "email"]
    # Offsets are the message's own: the conversion keeps the length.
    assert all(normalise_script(text[start:end]) == t.lower() or text[start:end] == t for t, start, end in got)


def test_whole_chinese_words_are_not_lost():
    # Rasa's emoji pattern matches Chinese characters, and WhitespaceTokenizer drops a
    # token that is all "emoji": the Chinese before the first space vanished.
    assert [t for t, _, _ in tokens("你哋會唔會賣我嘅資料？")] == list("你哋会唔会卖我嘅资料")


def test_punctuation_is_not_a_token_and_latin_runs_stay_whole():
    assert [t for t, _, _ in tokens("資料、紀錄，刪除吧！")] == list("资料纪录删除吧")
    assert [t for t, _, _ in tokens("我想keep住我個account")] == ["我", "想", "keep", "住", "我", "个", "account"]


def test_english_is_tokenized_as_before():
    text = "Do you sell my data? e.g. to anna@example.org"
    before = WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).tokenize(Message(data={TEXT: text}), TEXT)
    assert tokens(text) == [(t.text, t.start, t.end) for t in before]


def test_the_script_conversion_can_be_turned_off():
    assert [t for t, _, _ in tokens("資料", script=None)] == ["資", "料"]


def test_traditional_and_simplified_write_alike():
    assert normalise_script("刪除我嘅個人資料") == normalise_script("删除我嘅个人资料") == "删除我嘅个人资料"
    assert normalise_script("no chinese here") == "no chinese here"


@pytest.fixture(scope="module")
def use():
    return load_encoder("use")


def test_the_encoder_matches_chinese_questions_to_their_english_twins(use):
    english = ["do you sell my personal data", "how long do you keep my data", "how do I delete my account",
               "do you use cookies", "what is the weather tomorrow"]
    chinese = ["你哋會唔會賣我嘅個人資料", "你们会保存我的数据多久", "我點樣刪除我個帳戶",
               "你們的網站有使用 cookies 嗎", "明天天气怎么样"]
    similarity = use.embed(chinese) @ use.embed(english).T
    # Each Chinese question is nearest its own English twin (not a phrasebook: no
    # word is shared).
    assert list(similarity.argmax(axis=1)) == list(range(len(english)))


def test_the_encoder_reads_both_scripts_alike_and_returns_unit_vectors(use):
    a, b = use.embed(["你們會出售我的資料嗎", "你们会出售我的资料吗"])
    assert np.allclose(a, b, atol=1e-5)
    assert abs(float(np.linalg.norm(a)) - 1) < 1e-4


def test_the_featurizer_adds_one_sentence_vector_under_its_alias(tmp_path):
    featurizer = MultilingualSentenceFeaturizer.create(
        {**MultilingualSentenceFeaturizer.get_default_config(), "alias": "use"},
        LocalModelStorage(tmp_path), Resource("f"), ExecutionContext(node_name="f", graph_schema=None))
    [message] = featurizer.process([Message(data={TEXT: "你哋會唔會賣我嘅資料？"})])
    [feature] = [f for f in message.features if f.origin == "use"]
    assert feature.type == "sentence" and feature.features.shape == (1, 512)


def _message_with(**blocks):
    message = Message(data={TEXT: "x"})
    for alias, vector in blocks.items():
        message.add_features(Features(np.array([vector], dtype=np.float32), "sentence", TEXT, alias))
    return message


def test_the_vote_reads_the_featurizers_it_is_told_to(tmp_path):
    def classifier(**config):
        return BalancedLogisticClassifier({**BalancedLogisticClassifier.get_default_config(), **config}, "c",
                                          LocalModelStorage(tmp_path), Resource("c"))
    message = _message_with(minilm=[1.0, 0.0], use=[0.0, 3.0])
    assert np.allclose(classifier()._embedding(message), [1.0, 0.0])  # the first dense block, as before
    assert np.allclose(classifier(neighbours_featurizers=["use"])._embedding(message), [0.0, 1.0])
    both = classifier(neighbours_featurizers=["minilm", "use"])._embedding(message)
    assert np.allclose(both, [1 / np.sqrt(2), 0, 0, 1 / np.sqrt(2)])


def item(**kw):
    return zh_eval.ZhItem(q=kw.pop("q", "問題"), topics=kw.pop("topics", []), flow=kw.pop("flow", False),
                          intent=kw.pop("intent", None), script="zh-Hant", voice="cantonese")


@pytest.mark.parametrize("case, intent, right", [
    (dict(topics=["retention"]), "policy_retention", True),
    (dict(topics=["retention"]), "policy_sharing", False),
    (dict(topics=["sharing", "data-sale"]), "policy_data_sale", True),
    (dict(topics=[]), "policy_silent", True),
    (dict(topics=[]), "out_of_scope", True),
    (dict(topics=[]), "policy_contact", True),          # allowed on a silent question, as in real_eval
    (dict(topics=[]), "policy_retention", False),
    (dict(topics=["your-rights"], flow=True), "request_deletion", True),
    (dict(topics=["your-rights"], flow=True), "policy_your_rights", True),
    (dict(topics=["your-rights"]), "request_deletion", False),  # a question about a right is not a request
    (dict(intent="complain"), "report_urgent", True),
    (dict(intent="request_human"), "request_human", True),
    (dict(intent="greet"), "thank", False),
])
def test_the_chinese_set_is_scored_as_the_english_one(case, intent, right):
    assert zh_eval.nlu_correct(item(**case), intent) is right


def test_the_summary_never_carries_a_question():
    secret = "這句不可以出現在報告裡"
    outcomes = [zh_eval.ZhOutcome(item(q=secret, topics=["retention"]), False, "sharing"),
                zh_eval.ZhOutcome(item(q=secret + "2", intent="greet"), True, "greet")]
    summary = zh_eval.summarise(outcomes)
    text = json.dumps(summary, ensure_ascii=False) + zh_eval.format_summary(summary)
    assert secret not in text
    assert summary["accuracy"] == 0.5 and summary["by_voice"]["cantonese"]["n"] == 2
    assert summary["confusions"] == {"retention": {"sharing": 1}}


def test_chinese_is_left_to_the_classifier_and_other_languages_are_still_out_of_scope():
    from extensions.nlu.other_language_classifier import OtherLanguageClassifier

    chinese = Message(data={TEXT: "你哋會唔會賣我嘅資料？", "intent": {"name": "policy_data_sale", "confidence": 0.9}})
    german = Message(data={TEXT: "Bitte löschen Sie meine Daten", "intent": {"name": "request_deletion", "confidence": 0.6}})
    OtherLanguageClassifier().process([chinese, german])
    assert chinese.get("intent")["name"] == "policy_data_sale"
    assert german.get("intent")["name"] == "out_of_scope"


def test_a_chinese_message_votes_among_the_multilingual_vectors_an_english_one_among_minilms(tmp_path):
    from rasa.shared.nlu.training_data.training_data import TrainingData

    config = {**BalancedLogisticClassifier.get_default_config(), "neighbours_featurizers": ["minilm"],
              "neighbours_featurizers_for_chinese": ["use"], "neighbours_weight": 1.0, "neighbours": 1}
    classifier = BalancedLogisticClassifier(config, "c", LocalModelStorage(tmp_path), Resource("c"))

    def example(text, intent, minilm, use):
        message = _message_with(minilm=minilm, use=use)
        message.set(TEXT, text)
        message.set("intent", intent)
        return message

    # In MiniLM's space "a" is near policy_cookies, in USE's space near policy_retention.
    classifier.train(TrainingData(training_examples=[
        example("cookies", "policy_cookies", [1, 0], [0, 1]),
        example("retention", "policy_retention", [0, 1], [1, 0])]))
    english = example("cookie please", None, [1, 0.1], [0.1, 1])
    chinese = example("保存幾耐", None, [1, 0.1], [1, 0.1])
    classifier.process([english, chinese])
    assert english.get("intent")["name"] == "policy_cookies"
    assert chinese.get("intent")["name"] == "policy_retention"

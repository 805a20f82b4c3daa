"""The policy answers in every language stay true to the binding English policy:
every answer has its verbatim quotes (each English quote kept in each translation,
every quote verbatim policy text), its section link, and its section title in the
visitor's language; Chinese answers use their region's wording and script."""
from __future__ import annotations

import re

import pytest

from imago_core.language import ANSWERED
from imago_core.policy import get_catalogue
from tests.test_texts import other_script

CATALOGUE = get_catalogue()
QUOTED = re.compile(r'"([^"]+)"')
URL = "https://example.test/policy"
PAIRS = [(topic, language) for topic in CATALOGUE.topics for language in ANSWERED]


def _id(pair):
    return f"{pair[0].id}-{pair[1]}"


@pytest.mark.parametrize("topic, language", PAIRS, ids=[_id(p) for p in PAIRS])
def test_every_answer_exists_quotes_the_policy_and_links_its_section(topic, language):
    answer = topic.answer_in(language)
    if language != "en":
        assert dict(topic.translations).get(language), f"{topic.id} has no {language} answer"
        assert answer != topic.answer and topic.title_in(language) != topic.title
    quotes = QUOTED.findall(answer)
    assert quotes, f"{topic.id} ({language}) quotes nothing from the policy"
    for quote in quotes:
        assert quote in CATALOGUE.policy_text, f"{topic.id} ({language}): not in the policy: {quote!r}"
    missing = set(QUOTED.findall(topic.answer)) - set(quotes)
    assert not missing, f"{topic.id} ({language}) drops the policy's words: {missing}"
    rendered = topic.render(URL, language)
    assert f"[{topic.title_in(language)}]({URL}#{topic.id})" in rendered


@pytest.mark.parametrize("language", [lang for lang in ANSWERED if lang != "en"])
def test_chinese_answers_mark_the_quotes_as_the_policy_s_own_words(language):
    for topic in CATALOGUE.topics:
        answer = topic.answer_in(language)
        assert answer.count("政策原文") >= 1, topic.id
        # Nothing but the marked English quotes is left in English sentences.
        outside = QUOTED.sub("", answer)
        assert not re.search(r"[A-Za-z]+ [a-z]+ [a-z]+ [a-z]+ [a-z]+", outside), (topic.id, outside[:80])


def test_chinese_answers_use_their_region_s_wording_and_script():
    hant = "".join(QUOTED.sub("", t.answer_in("zh-Hant") + t.title_in("zh-Hant")) for t in CATALOGUE.topics)
    hans = "".join(QUOTED.sub("", t.answer_in("zh-Hans") + t.title_in("zh-Hans")) for t in CATALOGUE.topics)
    assert "個人資料" in hant and "私隱" in hant and "隱私" not in hant
    assert "个人信息" in hans and "隐私" in hans and "私隐" not in hans and "电邮" not in hans
    assert not other_script(hant, "s2t") and not other_script(hans, "t2s")
    assert "2020年5月24日" in hant and "2020年5月24日" in hans


def test_a_missing_translation_is_caught(tmp_path):
    import shutil

    from imago_core.policy.catalogue import POLICY_DIR, Catalogue

    for path in POLICY_DIR.iterdir():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "answers.zh-Hans.yml").write_text("{}\n", encoding="utf-8")
    topic = Catalogue.load(tmp_path).by_id("retention")
    assert not dict(topic.translations).get("zh-Hans")  # what the first test fails on

"""Every text a visitor reads lives in data/texts/<language>.yml, for every language:
these tests fail when a language lacks a response or a text, when placeholders
differ between languages, when the domain's English drifts from en.yml, when
Chinese texts use the other region's wording or script, or when an action puts
words into a reply as a string literal."""
from __future__ import annotations

import ast
from pathlib import Path

import opencc
import pytest
import yaml

from imago_core.language import ANSWERED
from imago_core.language.dates import format_date
from imago_core.language.texts import TEXTS_DIR, Texts, placeholders, texts_for
from imago_core.vocabulary import RequestStatus, RequestType

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
ENGLISH = Texts.load("en")
OTHERS = [language for language in ANSWERED if language != "en"]


def test_there_is_a_texts_file_for_every_language_answered_and_no_other():
    assert sorted(p.stem for p in TEXTS_DIR.glob("*.yml")) == sorted(ANSWERED)


@pytest.mark.parametrize("language", ANSWERED)
def test_every_domain_response_has_its_text_and_button_titles(language):
    texts = texts_for(language)
    for name, variations in DOMAIN["responses"].items():
        own = texts.response(name)
        assert own and own.get("text"), f"{language}: no text for {name}"
        domain_buttons = variations[0].get("buttons") or []
        assert len(own.get("buttons") or []) == len(domain_buttons), f"{language}: {name} buttons"
    assert set(texts.responses) == set(DOMAIN["responses"]), f"{language}: responses not in the domain"


def test_the_domain_english_is_en_yml():
    for name, variations in DOMAIN["responses"].items():
        assert variations[0]["text"] == ENGLISH.response(name)["text"], name
        titles = [b["title"] for b in variations[0].get("buttons") or []]
        assert titles == (ENGLISH.response(name).get("buttons") or []), name


@pytest.mark.parametrize("language", OTHERS)
def test_every_text_exists_in_every_language_with_the_same_placeholders(language):
    texts = texts_for(language)
    assert set(texts.texts) == set(ENGLISH.texts), f"{language}: keys differ"
    for key, english in ENGLISH.texts.items():
        assert texts.texts[key].strip(), f"{language}: {key} is empty"
        assert placeholders(texts.texts[key]) == placeholders(english), f"{language}: {key} placeholders"
    for name, own in texts.responses.items():
        assert placeholders(own["text"]) == placeholders(ENGLISH.response(name)["text"]), name


def test_every_request_type_and_status_has_words():
    for language in ANSWERED:
        texts = texts_for(language)
        for kind in RequestType:
            assert texts.get(f"request_type.{kind.value}.label") and texts.get(f"request_type.{kind.value}.short")
        for status in RequestStatus:
            assert texts.get(f"status.{status.name.lower()}")


def test_every_silent_subject_of_the_policy_actions_has_words():
    from actions.policy_actions import _SILENT_SUBJECTS

    for language in ANSWERED:
        for _, key in _SILENT_SUBJECTS:
            assert texts_for(language).get(f"policy.silent.{key}")


# Characters OpenCC's s2t maps to a variant, though Hong Kong writes them as they are (平台, 咪高峰).
SHARED_VARIANTS = set("峰台")


def _all_chinese(language: str) -> str:
    """Every Chinese text, without the other script's own name in the language notice."""
    texts = texts_for(language)
    text = "\n".join([*texts.texts.values(), *(r["text"] for r in texts.responses.values()),
                      *(b for r in texts.responses.values() for b in r.get("buttons") or [])])
    return text.replace("简体中文", "").replace("繁體中文", "")


def other_script(text: str, converter: str) -> list:
    convert = opencc.OpenCC(converter).convert
    return sorted({c for c in text if c not in SHARED_VARIANTS and convert(c) != c})


def test_traditional_uses_hong_kong_wording_and_script():
    text = _all_chinese("zh-Hant")
    assert "私隱" in text and "個人資料" in text
    for mainland_or_taiwan in ("隱私", "信息", "數據保護條例", "用戶名", "視頻"):
        assert mainland_or_taiwan not in text, mainland_or_taiwan
    assert not other_script(text, "s2t")  # no Simplified-only character


def test_simplified_uses_mainland_wording_and_script():
    text = _all_chinese("zh-Hans")
    assert "隐私" in text and "个人信息" in text
    for hong_kong in ("私隐", "个人资料的", "電郵", "电邮", "工作天"):
        assert hong_kong not in text, hong_kong
    assert not other_script(text, "t2s")  # no Traditional-only character


def test_dates_are_written_as_each_language_writes_them():
    from datetime import datetime

    moment = datetime(2027, 1, 2)
    assert format_date(moment) == "2 January 2027"
    assert format_date(moment, "zh-Hant") == format_date(moment, "zh-Hans") == "2027年1月2日"


def _literal_reply_texts(path: Path):
    """`utter_message(text="...")`, `text=f"..."` and `{"title": "..."}` with words in them."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "utter_message":
            for keyword in node.keywords:
                if keyword.arg == "text" and isinstance(keyword.value, (ast.Constant, ast.JoinedStr)):
                    yield node.lineno
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if (isinstance(key, ast.Constant) and key.value in ("title", "text", "connecting_text", "fallback_text")
                        and isinstance(value, (ast.Constant, ast.JoinedStr))):
                    yield node.lineno


def test_actions_put_no_words_in_replies_as_literals():
    found = [f"{path.relative_to(ROOT)}:{line}" for path in sorted((ROOT / "actions").rglob("*.py"))
             for line in _literal_reply_texts(path)]
    assert not found, found


def test_the_literal_check_catches_a_literal(tmp_path):
    sample = tmp_path / "a.py"
    sample.write_text('d.utter_message(text=f"Hello {x}")\nb = {"title": "Delete", "payload": "/x"}\n')
    assert list(_literal_reply_texts(sample)) == [1, 2]

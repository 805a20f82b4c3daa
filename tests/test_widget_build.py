"""The served widget (imago-chat.js and imago-chat.css) is what its modules and texts
build (python -m web.build_widget), its modules stay small, and its own words exist in
every language."""
from __future__ import annotations

import shutil
import subprocess

from imago_core.language import ANSWERED
from imago_core.language.texts import placeholders
from web import build_widget


def test_the_served_widget_is_what_the_sources_build():
    assert build_widget.OUTPUT.read_text(encoding="utf-8") == build_widget.build(), \
        "web/widget/imago-chat.js is stale: run python -m web.build_widget"


def test_the_served_style_sheet_is_what_the_sources_build():
    assert build_widget.CSS_OUTPUT.read_text(encoding="utf-8") == build_widget.build_css(), \
        "web/widget/imago-chat.css is stale: run python -m web.build_widget"
    assert sorted(build_widget.SOURCES.glob("*.css")), "no web/widget/src/*.css parts"


def test_the_check_mode_fails_on_a_stale_file(tmp_path, monkeypatch):
    stale = tmp_path / "imago-chat.js"
    stale.write_text("// old\n", encoding="utf-8")
    monkeypatch.setattr(build_widget, "OUTPUT", stale)
    assert build_widget.main(["--check"]) == 1
    assert build_widget.main([]) == 0 and build_widget.main(["--check"]) == 0


def test_the_check_mode_fails_on_a_stale_style_sheet(tmp_path, monkeypatch):
    stale = tmp_path / "imago-chat.css"
    stale.write_text("/* old */\n", encoding="utf-8")
    monkeypatch.setattr(build_widget, "OUTPUT", tmp_path / "imago-chat.js")
    monkeypatch.setattr(build_widget, "CSS_OUTPUT", stale)
    assert build_widget.main(["--check"]) == 1
    assert build_widget.main([]) == 0 and build_widget.main(["--check"]) == 0
    assert stale.read_text(encoding="utf-8") == build_widget.build_css()


def test_every_module_is_small():
    for path in [*build_widget.SOURCES.glob("*.js"), *build_widget.SOURCES.glob("*.css")]:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name


def test_the_widget_languages_are_the_ones_answered_with_the_same_keys_and_placeholders():
    assert build_widget.LANGUAGES == ANSWERED
    texts = build_widget.widget_texts()
    english = texts["en"]
    assert english
    for language in ANSWERED:
        assert set(texts[language]) == set(english), language
        for key, value in english.items():
            assert texts[language][key] and placeholders(texts[language][key]) == placeholders(value), (language, key)


def test_the_built_widget_is_valid_javascript():
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is needed for the widget (scripts/build-web.sh)"
    script = "new Function(require('fs').readFileSync(process.argv[1], 'utf8'))"
    subprocess.run([node, "-e", script, str(build_widget.OUTPUT)], check=True, timeout=30)

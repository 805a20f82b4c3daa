"""The policy content: topics, answers, domain and page stay true and in sync."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from imago_core.policy.catalogue import Catalogue, intent_for
from web.policy_page import render_policy_html

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = Catalogue.load()
POLICY_TEXT = CATALOGUE.policy_text
QUOTED = re.compile(r'"([^"]+)"')


def _yaml(path: str):
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


def test_there_are_25_topics_with_unique_ids():
    ids = [t.id for t in CATALOGUE.topics]
    assert len(ids) == 25 and len(set(ids)) == 25


def test_project_copy_of_the_policy_matches_shared_if_present():
    shared = ROOT.parent / "shared" / "policy" / "imago-privacy-policy.txt"
    from tests.support import components

    components.require("shared", shared.exists(), f"{shared} not found (CI lays ../shared beside the checkout)")
    assert shared.read_text(encoding="utf-8") == POLICY_TEXT


@pytest.mark.parametrize("topic", CATALOGUE.topics, ids=lambda t: t.id)
def test_every_answer_links_its_own_section(topic):
    rendered = topic.render("https://example.test/policy")
    assert rendered.rstrip().endswith(f"[{topic.title}](https://example.test/policy#{topic.id})")
    assert 40 <= len(topic.answer) <= 1600, "answers are a few sentences"


@pytest.mark.parametrize("topic", CATALOGUE.topics, ids=lambda t: t.id)
def test_every_quoted_passage_is_verbatim_policy_text(topic):
    for quote in QUOTED.findall(topic.answer):
        assert quote in POLICY_TEXT, f"{topic.id}: not in the policy: {quote!r}"


@pytest.mark.parametrize(
    "topic_id, must_quote",
    [
        ("data-sale", "We will never, ever provide or sell personal data"),
        ("governing-law", "32/F Central Plaza, 18 Harbour Road, WanChai, Hong Kong"),
        ("retention", "How long do we need access to the data for"),
        ("retention", "Is there a reasonable expectation from customers"),
        ("retention", "subject to legal, contractual, regulatory, or similar, obligations"),
    ],
)
def test_answers_quote_the_words_that_matter(topic_id, must_quote):
    quotes = QUOTED.findall(CATALOGUE.by_id(topic_id).answer)
    assert any(must_quote in q for q in quotes), f"{topic_id} must quote {must_quote!r}"


def test_every_ground_appears_in_the_policy():
    for topic in CATALOGUE.topics:
        for ground in topic.grounds:
            assert ground in POLICY_TEXT, (topic.id, ground)


def test_domain_has_exactly_one_intent_per_topic():
    domain_intents = set(_yaml("domain.yml")["intents"])
    topic_intents = {intent_for(t.id) for t in CATALOGUE.topics}
    assert topic_intents <= domain_intents
    stray = {i for i in domain_intents if i.startswith("policy_")} - topic_intents - {"policy_silent"}
    assert not stray, f"policy intents without a topic: {stray}"


def test_every_topic_intent_has_training_data_and_a_rule():
    nlu_intents = set()
    for path in (ROOT / "data" / "nlu").rglob("*.yml"):
        for block in _yaml(str(path.relative_to(ROOT))).get("nlu", []):
            if "intent" in block:
                nlu_intents.add(block["intent"])
    rule_text = (ROOT / "data" / "rules" / "policy.yml").read_text()
    for topic in CATALOGUE.topics:
        assert topic.intent in nlu_intents, f"no training data for {topic.intent}"
        assert f"intent: {topic.intent}\n" in rule_text, f"no rule for {topic.intent}"


def test_held_out_examples_are_never_in_training_data():
    def examples(path):
        found = set()
        for block in _yaml(path).get("nlu", []):
            for line in block.get("examples", "").splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found.add(" ".join(line[2:].lower().split()))
        return found

    training = set()
    for path in (ROOT / "data" / "nlu").rglob("*.yml"):
        training |= examples(str(path.relative_to(ROOT)))
    overlap = examples("tests/nlu/heldout.yml") & training
    assert not overlap, f"held-out examples also in training: {sorted(overlap)[:10]}"


def test_policy_page_has_an_anchor_for_every_topic():
    page = render_policy_html(CATALOGUE)
    for topic in CATALOGUE.topics:
        assert page.count(f'id="{topic.id}"') == 1, topic.id
        assert f'href="#{topic.id}"' in page


def test_each_anchor_sits_on_a_line_the_topic_rests_on():
    # Read back from the rendered page, not from the renderer's own anchor table: the text
    # that follows each topic's anchor (after any anchors sharing its line) is one of its grounds.
    import html as html_module

    page = render_policy_html(CATALOGUE)
    for topic in CATALOGUE.topics:
        match = re.search(rf'id="{re.escape(topic.id)}"[^>]*></span>(?:<span class="anchor"[^>]*></span>)*([^<]*)', page)
        assert match, topic.id
        line = html_module.unescape(match.group(1)).strip()
        assert any(line.startswith(ground.lstrip("- ").strip()) for ground in topic.grounds), (topic.id, line)


def test_policy_page_escapes_the_text():
    page = render_policy_html(CATALOGUE)
    assert "“cookies”" in page  # unicode kept
    assert "<script" not in page.lower()

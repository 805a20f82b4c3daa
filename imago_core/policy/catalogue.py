"""Loads the policy text, its topic catalogue and the answer to each topic.

`data/policy/topics.yml` is the single source of the topic ids; intents are derived
from them (`retention` -> `policy_retention`), and answers live in
`data/policy/answers.yml`. Tests keep the three and the domain in sync.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from imago_core.language import ANSWERED, DEFAULT
from imago_core.language.texts import text
from imago_core.settings import PROJECT_ROOT

POLICY_DIR = PROJECT_ROOT / "data" / "policy"
INTENT_PREFIX = "policy_"


def intent_for(topic_id: str) -> str:
    return INTENT_PREFIX + topic_id.replace("-", "_")


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    covers: str
    grounds: Tuple[str, ...]
    answer: str
    # Other languages: language -> (section title, answer), from answers.<language>.yml.
    translations: Tuple[Tuple[str, Tuple[str, str]], ...] = ()

    @property
    def intent(self) -> str:
        return intent_for(self.id)

    def title_in(self, language: str = DEFAULT) -> str:
        return dict(self.translations).get(language, (self.title, self.answer))[0]

    def answer_in(self, language: str = DEFAULT) -> str:
        return dict(self.translations).get(language, (self.title, self.answer))[1]

    def link(self, policy_url: str, language: str = DEFAULT) -> str:
        return f"[{self.title_in(language)}]({policy_url}#{self.id})"

    def render_short(self, policy_url: str, language: str = DEFAULT) -> str:
        """The answer's first sentence and the section link: the second of two
        sections a question spreads over, kept short."""
        lines = [line.strip() for line in self.answer_in(language).strip().split("\n") if line.strip()]
        sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z])|(?<=[。！？])", lines[0])[0]
        if sentence.endswith((":", "：")):  # a list follows: its first two items, inline
            items = [line.lstrip("- ").rstrip(".;。；") for line in lines[1:] if line.startswith("- ")]
            sentence += " " + "; ".join(items[:2]) + ("; …" if len(items) > 2 else ".")
        source = text(language, "policy.source", link=self.link(policy_url, language))
        return f"{sentence}\n\n{source}"

    def render(self, policy_url: str, language: str = DEFAULT) -> str:
        """The answer as the visitor sees it: plain words, then the section link."""
        source = text(language, "policy.source", link=self.link(policy_url, language))
        return f"{self.answer_in(language).strip()}\n\n{source}"


@dataclass(frozen=True)
class Passage:
    """One line of the policy, with the topic it belongs to."""

    index: int
    text: str
    topic_id: Optional[str]


class Catalogue:
    def __init__(self, policy_text: str, topics: List[Topic]):
        self.policy_text = policy_text
        self.topics = topics
        self._by_id: Dict[str, Topic] = {t.id: t for t in topics}
        self._by_intent: Dict[str, Topic] = {t.intent: t for t in topics}
        self.passages = self._assign_passages()

    @classmethod
    def load(cls, directory: Path = POLICY_DIR) -> "Catalogue":
        meta = yaml.safe_load((directory / "topics.yml").read_text(encoding="utf-8"))
        policy_text = (directory / meta["policy"]).read_text(encoding="utf-8")
        answers = yaml.safe_load((directory / "answers.yml").read_text(encoding="utf-8"))
        translated = {
            language: yaml.safe_load((directory / f"answers.{language}.yml").read_text(encoding="utf-8")) or {}
            for language in ANSWERED if language != DEFAULT
        }
        topics = []
        for entry in meta["topics"]:
            if entry["id"] not in answers:
                raise ValueError(f"answers.yml has no answer for topic {entry['id']!r}")
            topics.append(
                Topic(
                    id=entry["id"],
                    title=entry["title"],
                    covers=entry.get("covers", ""),
                    grounds=tuple(entry.get("grounds", [])),
                    answer=answers[entry["id"]],
                    translations=tuple(
                        (language, (by_id[entry["id"]]["title"], by_id[entry["id"]]["answer"]))
                        for language, by_id in translated.items() if entry["id"] in by_id
                    ),
                )
            )
        unknown = set(answers) - {t.id for t in topics}
        if unknown:
            raise ValueError(f"answers.yml has answers for unknown topics: {sorted(unknown)}")
        return cls(policy_text, topics)

    def by_id(self, topic_id: str) -> Optional[Topic]:
        return self._by_id.get(topic_id)

    def by_intent(self, intent: Optional[str]) -> Optional[Topic]:
        return self._by_intent.get(intent or "")

    def is_topic_intent(self, intent: Optional[str]) -> bool:
        return (intent or "") in self._by_intent

    def _assign_passages(self) -> List[Passage]:
        """Gives each policy line a topic: the topic whose ground it starts with, or
        else the topic of the nearest line above it (lists continue their heading)."""
        passages = []
        current: Optional[str] = None
        for index, line in enumerate(self.policy_text.splitlines()):
            text = line.strip()
            if not text:
                continue
            owner = self._owner_of(text)
            if owner:
                current = owner
            passages.append(Passage(index, text, owner or current))
        return passages

    def _owner_of(self, line: str) -> Optional[str]:
        # The longest matching ground wins, so a specific line beats a generic prefix.
        best: Tuple[int, Optional[str]] = (0, None)
        for topic in self.topics:
            for ground in topic.grounds:
                if line.startswith(ground) and len(ground) > best[0]:
                    best = (len(ground), topic.id)
        return best[1]

    def topic_lines(self, topic_id: str) -> List[str]:
        return [p.text for p in self.passages if p.topic_id == topic_id]


@functools.lru_cache(maxsize=1)
def get_catalogue() -> Catalogue:
    return Catalogue.load()

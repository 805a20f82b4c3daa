"""Data-driven conversation tests: tests/conversations/*.yml, run against the real
stack by tests/test_conversations.py.

A file holds `conversations:`, each with a `name`, `turns` and optional `expect`:

    - name: a policy question in the middle of a request
      turns:
        - user: ["I want you to delete my data", "please erase everything you have on me"]
          replies: 2                      # exactly this many bot messages
          contains: ["email address"]     # substrings (case-insensitive), all required
        - user: how long do you keep my data?
          links: [retention]              # a link to that policy section
          contains: ["Back to your deletion request"]
        - user: "{email}"                 # this conversation's own address
        - user: "{code}"                  # the code last mailed to it
      expect:
        filed: [deletion]                 # request types recorded, in any order
        codes_mailed: {email: 1}

Replies are counted as the bot messages the assistant uttered that turn (read from
the tracker store): the REST channel splits one message at blank lines.

A `user` given as a list makes one conversation per phrasing (the i-th conversation
uses the i-th phrasing of every turn that has several, cycling shorter lists).
Every turn is checked for the fallback replies unless it says `fallback: true`.
Placeholders: {email}, {email2} (unique per conversation) and {code}, {code:email2}.
"""
from __future__ import annotations

import json
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

import yaml

FALLBACK_MARKERS = ("Sorry, I lost the thread", "I'm not sure I understood", "I still couldn't find that")
TURN_KEYS = {"user", "replies", "contains", "not_contains", "links", "no_links", "buttons", "fallback",
             "min_replies", "any_of"}


@dataclass
class Turn:
    user: str
    spec: Dict[str, Any]


@dataclass
class Conversation:
    name: str
    turns: List[Turn]
    expect: Dict[str, Any] = field(default_factory=dict)
    source: str = ""


def load(folder: Path) -> List[Conversation]:
    conversations = []
    for path in sorted(folder.glob("*.yml")):
        for raw in yaml.safe_load(path.read_text())["conversations"]:
            conversations += _expand(raw, path.name)
    names = [c.name for c in conversations]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"duplicate conversation names: {duplicates}"
    return conversations


def _expand(raw: Dict[str, Any], source: str) -> List[Conversation]:
    for turn in raw["turns"]:
        unknown = set(turn) - TURN_KEYS
        assert not unknown, f"{raw['name']}: unknown turn keys {unknown}"
    variants = max(len(t["user"]) if isinstance(t["user"], list) else 1 for t in raw["turns"])
    out = []
    for index in range(variants):
        turns = []
        for turn in raw["turns"]:
            user = turn["user"]
            text = user[index % len(user)] if isinstance(user, list) else user
            turns.append(Turn(str(text), {k: v for k, v in turn.items() if k != "user"}))
        name = raw["name"] if variants == 1 else f"{raw['name']} [{index + 1}]"
        out.append(Conversation(name, turns, raw.get("expect") or {}, source))
    return out


class Runner:
    """Plays one conversation against a running stack and checks every turn."""

    def __init__(self, stack, smtp):
        self.stack, self.smtp = stack, smtp
        self.sender = f"conv-{uuid.uuid4().hex}"
        tag = uuid.uuid4().hex[:8]
        self.addresses = {"email": f"visitor.{tag}@example.org", "email2": f"second.{tag}@example.net"}
        self.transcript: List[str] = []

    def code_for(self, key: str) -> str:
        address = self.addresses[key]
        message = self.smtp.last_code_to(address)
        assert message is not None, f"no code was mailed to {key}\n{self.log()}"
        return re.search(r"\b(\d{6})\b", message.message.get_content()).group(1)

    def mails_to(self, key: str) -> int:
        return len(self.smtp.code_mails_to(self.addresses[key]))

    def fill(self, text: str) -> str:
        text = re.sub(r"\{code(?::(\w+))?\}", lambda m: self.code_for(m.group(1) or "email"), text)
        for key, address in self.addresses.items():
            text = text.replace("{" + key + "}", address)
        return text

    def log(self) -> str:
        return "\n".join(self.transcript)

    def turn_events(self) -> List[tuple]:
        """(type, name) of the events since the latest user message, from the tracker store."""
        with sqlite3.connect(self.stack.workdir / "tracker.db") as db:
            rows = db.execute("select type_name, action_name, intent_name, data from events "
                              "where sender_id = ? order by id", ("rest:" + self.sender,)).fetchall()
        last_user = max((i for i, row in enumerate(rows) if row[0] == "user"), default=-1)
        events = []
        for type_name, action, intent, data in rows[last_user:]:
            name = action or intent or (json.loads(data).get("text") or "")[:40] if type_name == "bot" else action or intent
            events.append((type_name, name))
        return events

    def play(self, conversation: Conversation) -> None:
        for number, turn in enumerate(conversation.turns, 1):
            text = self.fill(turn.user)
            replies = self.stack.say(self.sender, text)
            events = self.turn_events()
            uttered = sum(1 for kind, _ in events if kind == "bot")
            self.transcript.append(f"> {text}")
            self.transcript += [f"< {r.get('text') or r}" for r in replies]
            self.transcript.append("  [" + ", ".join(name or kind for kind, name in events
                                                     if kind in ("action", "user", "bot")) + "]")
            self.check(number, turn.spec, replies, uttered)

    def check(self, number: int, spec: Dict[str, Any], replies: List[dict], uttered: int) -> None:
        where = f"turn {number}\n{self.log()}"
        texts = [r.get("text") or "" for r in replies]
        joined = "\n".join(texts)
        lower = joined.lower()
        if "replies" in spec:
            assert uttered == spec["replies"], f"expected {spec['replies']} replies, got {uttered}; {where}"
        if "min_replies" in spec:
            assert uttered >= spec["min_replies"], where
        assert replies or spec.get("replies") == 0, f"no reply; {where}"
        for needle in spec.get("contains", []):
            assert self.fill(needle).lower() in lower, f"missing {needle!r}; {where}"
        if "any_of" in spec:
            assert any(self.fill(n).lower() in lower for n in spec["any_of"]), f"none of {spec['any_of']}; {where}"
        for needle in spec.get("not_contains", []):
            assert self.fill(needle).lower() not in lower, f"unexpected {needle!r}; {where}"
        for topic in spec.get("links", []):
            assert f"(http://localhost:8080/policy#{topic})" in joined, f"no link to #{topic}; {where}"
        if spec.get("no_links"):
            assert "http" not in joined, f"a link where none belongs; {where}"
        if "buttons" in spec:
            payloads = {b["payload"] for r in replies for b in r.get("buttons", [])}
            assert set(spec["buttons"]) <= payloads, f"buttons {payloads}; {where}"
        if not spec.get("fallback"):
            for marker in FALLBACK_MARKERS:
                assert marker.lower() not in lower, f"fallback reply {marker!r}; {where}"

"""End-to-end evaluation on questions labelled with policy sections: each question
is sent, in a conversation of its own, to the running assistant (Rasa server +
action server, tests/support/stack.py) and scored by the reply the visitor sees.

    python -m bench.real_eval --model models/x.tar.gz [--data tests/nlu/real_questions.yml]
        [--min-accuracy 0.85] [--report results/real-questions.json]

Scoring (the header of tests/nlu/real_questions.yml and issue 15):
- a question with topics is right when the reply links one of its sections;
- a `topics: []` question (the policy is silent) is right when the reply links no
  section other than `contact` or `your-rights`;
- a `flow: true` question is also right when the request flow starts;
- a "did you mean" reply is a miss.
Also reported: how often the assistant asked instead of answering, honesty (silent
questions whose reply links no section at all and does not guess), and, per
section, what the misses got instead.

`tests/nlu/heldout.yml` (Rasa NLU format) is read too: policy intents become their
section, `policy_silent`/`out_of_scope` become `topics: []`, request intents
(except the hand-off to a person) become `flow: true` questions about
`your-rights`; other intents are skipped.
"""
from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINK = re.compile(r"\]\([^)\s]*#([a-z0-9-]+)\)")
ASKED = re.compile(r"did you mean", re.I)
ALLOWED_ON_SILENT = {"contact", "your-rights"}
SILENT_INTENTS = {"policy_silent", "out_of_scope"}
REQUEST_PREFIX = "request_"
NOT_A_REQUEST_FLOW = {"request_human"}  # a hand-off to a person, not a data request
# Sets written by someone else to be scored blind: their questions are never shown here.
BLIND_SETS = ("fresh_questions.yml",)


@dataclass
class Item:
    q: str
    topics: List[str]
    flow: bool = False


@dataclass
class Outcome:
    item: Item
    links: List[str]
    asked: bool
    flow_started: bool
    reply: str = ""

    @property
    def correct(self) -> bool:
        if self.asked:
            return False
        if self.item.flow and self.flow_started:
            return True
        if self.item.topics:
            return bool(set(self.links) & set(self.item.topics))
        return not (set(self.links) - ALLOWED_ON_SILENT)

    @property
    def honest(self) -> bool:
        """For a silent question: no section linked at all, and no guessing."""
        return not self.links and not self.asked

    @property
    def got(self) -> str:
        if self.asked:
            return "asked"
        if self.flow_started:
            return "request flow"
        return ",".join(self.links) or "no section"


def load_items(path: Path) -> List[Item]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if "items" in data:
        return [Item(i["q"], list(i.get("topics") or []), bool(i.get("flow"))) for i in data["items"]]
    items = []
    for block in data.get("nlu") or []:
        intent = block.get("intent", "")
        examples = [line.strip()[2:] for line in (block.get("examples") or "").splitlines()
                    if line.strip().startswith("- ")]
        if intent.startswith("policy_") and intent not in SILENT_INTENTS:
            topics, flow = [intent[len("policy_"):].replace("_", "-")], False
        elif intent in SILENT_INTENTS:
            topics, flow = [], False
        elif intent.startswith(REQUEST_PREFIX) and intent not in NOT_A_REQUEST_FLOW:
            topics, flow = ["your-rights"], True
        else:
            continue
        items.extend(Item(text, topics, flow) for text in examples)
    return items


def links_in(replies: Iterable[dict]) -> List[str]:
    return [m for r in replies for m in LINK.findall(r.get("text") or "")]


def flow_started(tracker_db: Path, sender: str) -> bool:
    """Whether a form became active in this conversation (read from the tracker
    store, so it does not depend on the wording of the request flow)."""
    # The channel prefixes the conversation id ("rest:<sender>", docs/security.md).
    with sqlite3.connect(tracker_db) as db:
        rows = db.execute("SELECT data FROM events WHERE sender_id IN (?, ?) AND type_name = 'active_loop'",
                          (sender, f"rest:{sender}")).fetchall()
    return any((json.loads(data or "{}").get("name")) for (data,) in rows)


def run_items(stack, items: Sequence[Item], tracker_db: Path) -> List[Outcome]:
    outcomes = []
    for item in items:
        sender = f"eval-{uuid.uuid4().hex}"
        replies = stack.say(sender, item.q)
        text = "\n".join(r.get("text") or "" for r in replies)
        outcomes.append(Outcome(item, links_in(replies), bool(ASKED.search(text)),
                                flow_started(tracker_db, sender), text[:300]))
    return outcomes


def summarise(outcomes: Sequence[Outcome]) -> Dict:
    silent = [o for o in outcomes if not o.item.topics]
    confusions: Dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        if not o.correct:
            gold = "/".join(o.item.topics) or "(policy silent)"
            confusions[gold][o.got] += 1
    n = len(outcomes) or 1
    return {
        "questions": len(outcomes),
        "accuracy": sum(o.correct for o in outcomes) / n,
        "ask_rate": sum(o.asked for o in outcomes) / n,
        "silent_questions": len(silent),
        "honesty": (sum(o.honest for o in silent) / len(silent)) if silent else None,
        "confusions": {gold: dict(c.most_common()) for gold, c in sorted(confusions.items())},
        "misses": [{"q": o.item.q, "topics": o.item.topics, "got": o.got} for o in outcomes if not o.correct],
    }


def evaluate_files(model: str, files: Sequence[Path], workdir: Optional[Path] = None) -> Dict[str, Dict]:
    """Starts the assistant once and evaluates every file through it."""
    import os

    from tests.support.stack import Stack

    os.environ["IMAGO_TEST_MODEL"] = model
    workdir = workdir or Path(tempfile.mkdtemp(prefix="imago-real-eval-"))
    stack = Stack(workdir).start()
    results = {}
    try:
        stack.say("warm-up", "hello")
        for path in files:
            started = time.perf_counter()
            outcomes = run_items(stack, load_items(path), workdir / "tracker.db")
            summary = summarise(outcomes)
            summary["seconds"] = time.perf_counter() - started
            results[str(path)] = summary
    finally:
        stack.stop()
    return results


def format_summary(name: str, s: Dict) -> str:
    honesty = "n/a" if s["honesty"] is None else f"{s['honesty']:.1%} of {s['silent_questions']}"
    return (f"{name}: {s['questions']} questions, accuracy {s['accuracy']:.1%}, "
            f"asked instead of answering {s['ask_rate']:.1%}, silent-policy honesty {honesty}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", type=Path, action="append",
                        help="question files (default: tests/nlu/real_questions.yml)")
    parser.add_argument("--min-accuracy", type=float, default=None, help="fail under this (first file)")
    parser.add_argument("--report", type=Path)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--aggregate-only", action="store_true",
                        help="keep the questions' texts out of the report (blind sets such as fresh_questions.yml)")
    args = parser.parse_args(argv)
    files = args.data or [ROOT / "tests" / "nlu" / "real_questions.yml"]
    if args.show_misses and any(Path(f).name in BLIND_SETS for f in files):
        parser.error(f"{', '.join(BLIND_SETS)} is scored blind: no --show-misses (issue 24)")
    results = evaluate_files(args.model, files)
    if args.aggregate_only:
        for summary in results.values():
            summary.pop("misses", None)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(results, indent=2))
    for path, summary in results.items():
        if args.show_misses:
            for miss in summary["misses"]:
                print(f"  miss  {'/'.join(miss['topics']) or '(silent)':40s} -> {miss['got']:28s} {miss['q']!r}")
        print(format_summary(path, summary))
    first = results[str(files[0])]
    if args.min_accuracy is not None and first["accuracy"] < args.min_accuracy:
        print(f"FAIL: accuracy on {files[0]} is {first['accuracy']:.1%}, under {args.min_accuracy:.0%}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

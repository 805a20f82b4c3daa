"""Held-out NLU evaluation: intent accuracy and macro-F1 of a trained model.

    python -m bench.nlu_eval --model models/x.tar.gz [--data tests/nlu/heldout.yml]
        [--min-accuracy 0.90] [--report results/nlu-heldout.json]

Accuracy is the classifier's own top intent (the FallbackClassifier's
`nlu_fallback` is looked through), so a low-confidence but right answer counts; the
share of messages that would go to the fallback is reported separately. Exits 1
when accuracy is under --min-accuracy.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FALLBACK = "nlu_fallback"


def load_examples(path: Path) -> List[Tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def top_intent(parse: Dict) -> Tuple[str, bool]:
    """The classifier's top intent, and whether the fallback would have caught it."""
    name = (parse.get("intent") or {}).get("name")
    if name != FALLBACK:
        return name, False
    ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK]
    return (ranking[0]["name"] if ranking else FALLBACK), True


def scores(pairs: List[Tuple[str, str]]) -> Dict[str, float]:
    """Accuracy and macro-F1 over (gold, predicted) pairs."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for gold, pred in pairs:
        if gold == pred:
            tp[gold] += 1
        else:
            fp[pred] += 1
            fn[gold] += 1
    labels = {g for g, _ in pairs}
    f1s = []
    for label in labels:
        p = tp[label] / (tp[label] + fp[label]) if tp[label] + fp[label] else 0.0
        r = tp[label] / (tp[label] + fn[label]) if tp[label] + fn[label] else 0.0
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    return {
        "accuracy": sum(tp.values()) / len(pairs) if pairs else 0.0,
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
    }


async def evaluate(model: str, data: Path) -> Dict:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    examples = load_examples(data)
    pairs, fell_back, errors = [], 0, defaultdict(list)
    started = time.perf_counter()
    for text, gold in examples:
        parse = await agent.parse_message(text)
        pred, fallback = top_intent(parse)
        fell_back += fallback
        pairs.append((gold, pred))
        if pred != gold:
            errors[gold].append({"text": text, "predicted": pred})
    elapsed = time.perf_counter() - started
    result = scores(pairs)
    result.update({
        "examples": len(examples),
        "fallback_rate": fell_back / len(examples) if examples else 0.0,
        "parse_ms_mean": 1000 * elapsed / max(len(examples), 1),
        "errors": dict(errors),
    })
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Held-out NLU evaluation")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default="tests/nlu/heldout.yml", type=Path)
    parser.add_argument("--min-accuracy", type=float, default=None)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # Rasa's structlog prints every parse at debug
    result = asyncio.run(evaluate(args.model, args.data))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(result, indent=2))
    for gold, wrong in sorted(result["errors"].items()):
        for item in wrong:
            print(f"  miss  {gold:32s} -> {item['predicted']:32s} {item['text']!r}")
    print(
        f"held-out NLU: {result['examples']} examples, intent accuracy {result['accuracy']:.3f}, "
        f"macro-F1 {result['macro_f1']:.3f}, fallback rate {result['fallback_rate']:.3f}"
    )
    if args.min_accuracy is not None and result["accuracy"] < args.min_accuracy:
        print(f"FAIL: intent accuracy {result['accuracy']:.3f} is under {args.min_accuracy:.2f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

